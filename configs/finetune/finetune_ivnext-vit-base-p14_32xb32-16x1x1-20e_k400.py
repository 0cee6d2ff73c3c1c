# Fine-tuning an InternVideo-Next ViT-B/14 on Kinetics-400 (400 classes) with
# the recipe of Table 15: lr 3e-4 at batch 1024 (32 GPUs x 16 videos x 2
# repeated augmentations), layer decay 0.75, 20 epochs, RandAug (9, 0.5),
# CutMix 1.0, label smoothing 0.1.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/finetune_ivnext-vit-base-p14.py',
    '../_base_/datasets/video_cls_16x224.py',
    '../_base_/schedules/finetune_adamw_layer-decay_cosine.py',
]
default_scope = 'mmaction'

data_root = 'data/kinetics400/videos'
model = dict(
    cls_head=dict(num_classes=400),
    data_preprocessor=dict(blending=dict(num_classes=400)))

# RandAug (9, 0.5): torchvision's RandAugment (2 ops of magnitude 9, the same
# ops for every frame of a clip); torchvision has no magnitude noise (0.5).
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=16, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=2,
         magnitude=9),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=16,  # x 2 repeated augmentations of each video
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(
        _delete_=True,
        type='RepeatAugDataset',
        num_repeats=2,
        sample_once=True,
        ann_file='data/kinetics400/kinetics400_train_list_videos.txt',
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/kinetics400/kinetics400_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = dict(
    dataset=dict(
        ann_file='data/kinetics400/kinetics400_val_list_videos.txt',
        data_prefix=dict(video=data_root)))

max_epochs = 20
warmup_epochs = 5
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
