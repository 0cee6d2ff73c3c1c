# The demo job until Stage 1 lands: a small VisionTransformer3D classifier
# trained on the synthetic demo videos (12 classes: shape x motion direction),
# then evaluated on their val split. Runs on a CPU in a few minutes
# (tools/demo.sh). The demo videos are 64x64; clips are 8 frames at 56 px, so
# 4x4 patches of 14 px per frame.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_cosine-warmup5_50e.py',
]

data_root = 'data/demo_videos'
num_frames = 8
img_size = 56
num_classes = 12
embed_dims = 96

# An mmaction2 recognizer with our encoder. `_scope_` builds the model in
# mmaction2's scope, so its parts and their defaults (I3DHead's
# CrossEntropyLoss...) resolve there; our encoder is named with its scope.
model = dict(
    _scope_='mmaction',
    type='Recognizer3D',
    backbone=dict(
        type='mmivnext.VisionTransformer3D',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=4 * embed_dims),
        img_size=img_size,
        num_frames=num_frames,
        drop_path_rate=0.1,
        out_type='featmap'),
    cls_head=dict(
        type='I3DHead',
        in_channels=embed_dims,
        num_classes=num_classes,
        spatial_type='avg',
        dropout_ratio=0.0,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

# Labels depend on the direction of motion: no flip.
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
val_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(
        type='mmaction.UniformSample', clip_len=num_frames, num_clips=1,
        test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.CenterCrop', crop_size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='mmaction.VideoDataset',
        ann_file=f'{data_root}/train.txt',
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='mmaction.VideoDataset',
        ann_file=f'{data_root}/val.txt',
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmaction.AccMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# 10 epochs of 15 iterations, 1 warmup epoch.
max_epochs = 10
warmup_epochs = 1
base_lr = 1e-3
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=base_lr * 1e-2, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='auto'))
auto_scale_lr = dict(base_batch_size=8)
