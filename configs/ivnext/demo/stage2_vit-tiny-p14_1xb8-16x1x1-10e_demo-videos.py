# A tiny Stage-2 run on the demo videos, after the Stage-1 demo (the README's
# main command, tools/demo.sh): student and predictor start from the Stage-1
# demo checkpoint (converted by tools/model_converters/stage1_to_stage2.py),
# the frozen teacher is that same Stage-1 encoder, multi-block masking, latent
# prediction with 2 - 2 cos. Clips have 16 frames where Stage 1 had 8: the
# position embeddings are interpolated in time when loaded, as 16 -> 32 in the
# paper.
_base_ = [
    '../../_base_/models/ivnext-s2_vit-base-p14.py',
    '../../_base_/datasets/demo_videos.py',
    '../../_base_/schedules/adamw_cosine_100e.py',
    '../../_base_/default_runtime.py',
]

num_frames = 16
img_size = 56
embed_dims = 96
grid_size = (num_frames, img_size // 14, img_size // 14)
stage1_checkpoint = 'work_dirs/demo/stage2_init.pth'  # tools/demo.sh
# The Stage-1 demo encoder (stage1_vit-tiny-p14_1xb8-8x1x1-20e_demo-videos.py).
encoder = dict(
    arch=dict(
        _delete_=True,
        embed_dims=embed_dims,
        num_layers=4,
        num_heads=4,
        feedforward_channels=4 * embed_dims),
    img_size=img_size,
    num_frames=num_frames,
    projector_cfg=dict(num_heads=4, out_dims=64))

model = dict(
    backbone=dict(encoder, drop_path_rate=0.0),
    teacher=dict(backbone=encoder, checkpoint=stage1_checkpoint),
    predictor=dict(
        in_dims=embed_dims,
        grid_size=grid_size,
        num_layers=3,
        pretrained='data/demo_models/modernbert_tiny'),
    head=dict(in_dims=64, out_dims=embed_dims),
    init_checkpoint=stage1_checkpoint)

train_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmaction.DecordDecode'),
    dict(
        type='mmaction.MultiScaleCrop',
        input_size=img_size,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1),
    dict(type='mmaction.Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2,
                        dataset=dict(pipeline=train_pipeline))

max_epochs = 10
base_lr = 1e-4
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=base_lr * 1e-2,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=8)
