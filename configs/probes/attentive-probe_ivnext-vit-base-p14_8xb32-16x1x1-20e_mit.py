# Attentive probe of a frozen InternVideo-Next ViT-B/14 on Moments in Time v1
# (339 classes; paper Table 5): the K400 probe with this dataset.
_base_ = ['./attentive-probe_ivnext-vit-base-p14_8xb32-16x1x1-20e_k400.py']

data_root = 'data/mit/videos'
model = dict(cls_head=dict(num_classes=339))
train_dataloader = dict(
    dataset=dict(
        ann_file='data/mit/mit_train_list_videos.txt',
        data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/mit/mit_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = val_dataloader
