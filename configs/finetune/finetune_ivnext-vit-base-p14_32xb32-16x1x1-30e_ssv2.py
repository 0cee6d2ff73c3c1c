# Fine-tuning an InternVideo-Next ViT-B/14 on Something-Something V2 (174
# classes): the K400 recipe (Table 15) with lr 1e-3, 30 epochs and no flip.
_base_ = ['./finetune_ivnext-vit-base-p14_32xb32-16x1x1-20e_k400.py']

data_root = 'data/sthv2/videos'
model = dict(
    cls_head=dict(num_classes=174),
    data_preprocessor=dict(blending=dict(num_classes=174)))
# As in the K400 config, without Flip (labels depend on left/right).
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=16, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=2,
         magnitude=9),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_train_list_videos.txt',
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))

max_epochs = 30
warmup_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
