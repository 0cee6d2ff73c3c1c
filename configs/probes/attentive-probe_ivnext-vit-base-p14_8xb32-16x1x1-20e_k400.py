# Attentive probe of a frozen InternVideo-Next ViT-B/14 on Kinetics-400
# (400 classes; paper Table 5).
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

data_root = 'data/kinetics400/videos'
model = dict(cls_head=dict(num_classes=400))
train_dataloader = dict(
    dataset=dict(
        ann_file='data/kinetics400/kinetics400_train_list_videos.txt',
        data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/kinetics400/kinetics400_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = dict(
    dataset=dict(
        ann_file='data/kinetics400/kinetics400_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
