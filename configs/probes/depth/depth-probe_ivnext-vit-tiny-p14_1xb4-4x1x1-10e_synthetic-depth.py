# Depth probe on the synthetic depth set, small enough for a CPU: a tiny
# frozen encoder (2 layers, width 64; randomly initialised unless
# model.backbone.init_cfg is given), 4-frame windows with stride 2 of 28 x 56
# crops, a head of width 64. Checks that the pipeline, the probe, the loss and
# the metric run end to end; the figures mean nothing about InternVideo-Next.
#
#   python tools/data/make_synthetic_depth.py          # data/synthetic_depth
#   python tools/train.py THIS_CONFIG
#   python tools/test.py THIS_CONFIG work_dirs/<config name>/epoch_10.pth
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/depth-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/video_depth_224.py',
    '../../_base_/schedules/depth-probe_adamw_cosine_30e.py',
]
default_scope = 'mmivnext'

data_root = 'data/synthetic_depth'
num_frames = 4
stride = 2
depth_scale = 1000.  # make_synthetic_depth_sequences' default
depth_range = (1e-3, 10.)
img_size = (28, 56)  # (H, W): 2 x 4 patches of 14 px
embed_dims = 64
num_layers = 2

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims,
                  num_layers=num_layers, num_heads=2,
                  feedforward_channels=2 * embed_dims),
        img_size=img_size,
        num_frames=num_frames,
        projector_cfg=dict(num_heads=2, out_dims=32),
        frozen_stages=num_layers,
        init_cfg=None),
    head=dict(in_channels=embed_dims, num_frames=num_frames,
              img_size=img_size, embed_dims=64, num_heads=2,
              depth_range=depth_range, init_depth=3.))

# The synthetic frames are 48 x 64: resize to 42 x 56, crop 28 x 56.
train_pipeline = [
    dict(type='LoadVideoDepthWindow'),
    dict(type='ResizeVideoDepth', size=(42, 56)),
    dict(type='CropVideoDepth', crop_size=img_size, mode='random'),
    dict(type='FlipVideoDepth', flip_ratio=0.5),
    dict(type='PackVideoDepthInputs'),
]
test_pipeline = [
    dict(type='LoadVideoDepthWindow'),
    dict(type='ResizeVideoDepth', size=(42, 56)),
    dict(type='CropVideoDepth', crop_size=img_size, mode='center'),
    dict(type='PackVideoDepthInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, clip_len=num_frames, stride=stride,
                 depth_scale=depth_scale, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, clip_len=num_frames, stride=stride,
                 depth_scale=depth_scale, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(min_depth=depth_range[0], max_depth=depth_range[1])
test_evaluator = val_evaluator

max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
