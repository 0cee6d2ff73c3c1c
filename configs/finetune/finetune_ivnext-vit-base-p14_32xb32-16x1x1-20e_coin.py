# Fine-tuning an InternVideo-Next ViT-B/14 on COIN (180 classes): the K400
# recipe (Table 15) with lr 2e-4.
_base_ = ['./finetune_ivnext-vit-base-p14_32xb32-16x1x1-20e_k400.py']

data_root = 'data/coin/videos'
model = dict(
    cls_head=dict(num_classes=180),
    data_preprocessor=dict(blending=dict(num_classes=180)))
train_dataloader = dict(
    dataset=dict(
        ann_file='data/coin/coin_train_list_videos.txt',
        data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/coin/coin_val_list_videos.txt',
        data_prefix=dict(video=data_root)))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-4))
