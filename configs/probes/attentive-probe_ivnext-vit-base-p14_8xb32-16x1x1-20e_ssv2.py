# Attentive probe of a frozen InternVideo-Next ViT-B/14 on Something-Something V2
# (174 classes; paper Table 5).
#
#   tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=ENCODER.safetensors
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_20.pth 8
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/attentive-probe_ivnext-vit-base-p14.py',
    '../_base_/datasets/video_cls_16x224.py',
    '../_base_/schedules/probe_adamw_cosine_20e.py',
]
default_scope = 'mmaction'

data_root = 'data/sthv2/videos'
model = dict(cls_head=dict(num_classes=174))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_val_list_videos.txt',
        data_prefix=dict(video=data_root)))

# Labels depend on left/right: no flip.
train_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_train_list_videos.txt',
        data_prefix=dict(video=data_root),
        pipeline=[
            dict(type='DecordInit'),
            dict(type='UniformSample', clip_len=16, num_clips=1),
            dict(type='DecordDecode'),
            dict(type='Resize', scale=(-1, 256)),
            dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
            dict(type='Resize', scale=(224, 224), keep_ratio=False),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ]))
