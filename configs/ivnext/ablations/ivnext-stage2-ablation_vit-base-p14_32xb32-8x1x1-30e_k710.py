# The Stage-2 ablation setting of the paper (Tables 3-4, "Our Stage 2
# setting"): ViT-B student and teacher from the Stage-1 ablation run
# (ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py), 8 frames,
# 30 epochs at batch 1024 (32 GPUs x 32). Every other Stage-2 ablation
# inherits it.
_base_ = ['../stage2_vitb.py']

num_frames = 8
img_size = 224
stage1_checkpoint = ('work_dirs/ivnext-stage1-ablation_vit-base-p14_32xb32-'
                     '8x1x1-30e_k710/stage2_init.pth')

# 16-frame position-embedding tables interpolated to the input frames at
# every forward (see ivnext-stage2_vit-base-p14.py); the authors' context cap
# for 8 frames: int(400 * 8 / 8) = 400 tokens.
model = dict(
    teacher=dict(checkpoint=stage1_checkpoint),
    masker=dict(mask_cfgs=[
        dict(num_blocks=8, spatial_scale=(0.15, 0.15),
             aspect_ratio=(0.75, 1.5), temporal_scale=(1.0, 1.0),
             max_visible=400 * num_frames // 8),
        dict(num_blocks=2, spatial_scale=(0.7, 0.7),
             aspect_ratio=(0.75, 1.5), temporal_scale=(1.0, 1.0),
             max_visible=400 * num_frames // 8),
    ]),
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
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='mmivnext.Resize', scale=(img_size, img_size), keep_ratio=False,
         backend='pillow'),
    dict(type='mmaction.Flip', flip_ratio=0.5),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# 30 epochs at batch 1024: lr 1e-4 per 256 clips = 4e-4, cosine to 1e-1 of
# it, no warmup.
max_epochs = 30
batch_size = 1024
optim_wrapper = dict(optimizer=dict(lr=1e-4 * batch_size / 256))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.1,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=batch_size)
