# The Stage-2 ablation setting of the paper (Tables 3-4, "Our Stage 2
# setting"): ViT-B student and teacher from the Stage-1 ablation run
# (stage1_vitb_ablation-base.py), 8 frames, 30 epochs at batch 1024
# (32 GPUs x 32). Every other Stage-2 ablation inherits it.
_base_ = ['../stage2_vitb.py']

num_frames = 8
img_size = 224
embed_dims = 768
grid_size = (num_frames, img_size // 14, img_size // 14)
stage1_checkpoint = 'work_dirs/stage1_vitb_ablation-base/stage2_init.pth'

model = dict(
    backbone=dict(num_frames=num_frames,
                  projector_cfg=dict(out_dims=1024)),
    teacher=dict(
        backbone=dict(num_frames=num_frames,
                      projector_cfg=dict(out_dims=1024)),
        checkpoint=stage1_checkpoint),
    predictor=dict(grid_size=grid_size),
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
    dict(type='mmaction.Flip', flip_ratio=0.5),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 30
base_lr = 1e-4
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=base_lr * 1e-3,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1024)
