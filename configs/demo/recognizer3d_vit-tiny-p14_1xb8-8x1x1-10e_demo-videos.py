# The demo job until Stage 1 lands: a small VisionTransformer3D classifier
# trained on the synthetic demo videos (12 classes: shape x motion direction),
# then evaluated on their val split. Runs on a CPU in a few minutes
# (tools/demo.sh). The demo videos are 64x64; clips are 8 frames at 56 px, so
# 4x4 patches of 14 px per frame.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_cosine-warmup5_50e.py',
    '../_base_/datasets/demo_videos.py',
]

num_frames = {{_base_.num_frames}}
img_size = {{_base_.img_size}}
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

# Training data as in the demo pretraining set (labelled lists, no flip since
# labels depend on the direction of motion); validation on the val split.
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type={{_base_.dataset_type}},
        ann_file={{_base_.ann_file_val}},
        data_prefix=dict(video={{_base_.data_root_val}}),
        pipeline={{_base_.val_pipeline}},
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
