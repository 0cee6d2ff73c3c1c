# Tracking probe on the synthetic tracking set (moving rectangles and ellipses,
# 56 x 56, 5 fps; mmivnext.testing.synthetic_tracking) over the frozen demo
# encoder (Stage 2 of tools/demo.sh, exported by
# tools/model_converters/export_encoder.py). Without it, train over a random
# frozen encoder with `--cfg-options model.backbone.init_cfg=None`.
#
#   python tools/data/make_synthetic_tracking.py
#   for s in train val; do python tools/data/build_tracking_windows.py \
#       data/synthetic_tracking/annotations_$s.json \
#       data/synthetic_tracking/windows_$s.json \
#       --target-fps 5 --resize-short 56 --crop-size 56; done
#   python tools/train.py THIS_CONFIG
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/box-tracking-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/box_tracking_16x224.py',
]
default_scope = 'mmivnext'

num_frames = 16
img_size = 56
embed_dims = 96
num_layers = 4
encoder = 'work_dirs/demo/encoder.safetensors'  # tools/demo.sh
data_root = 'data/synthetic_tracking'

# The demo encoder: the released layout at the demo's tiny size
# (configs/ivnext/demo/stage2_*.py, as the demo attentive probe).
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims,
                  num_layers=num_layers, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=img_size,
        num_frames=num_frames,
        projector_cfg=dict(num_heads=4, out_dims=64),
        frozen_stages=num_layers,
        init_cfg=dict(checkpoint=encoder)),
    head=dict(in_channels=embed_dims, num_frames=num_frames, embed_dims=64,
              num_heads=4))

pipeline = [
    dict(type='LoadTrackingFrames'),
    dict(type='ResizeTrackingClip', scale=img_size),
    dict(type='PackTrackingInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, num_frames=num_frames,
                 pipeline=pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, num_frames=num_frames,
                 pipeline=pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='mmivnext.SyncFreeOptimWrapper',
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=5.0))
max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, save_best='tracking/mean_iou',
                    rule='greater'))
