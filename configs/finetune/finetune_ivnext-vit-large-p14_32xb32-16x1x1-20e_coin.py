# Fine-tuning an InternVideo-Next ViT-L/14: as the ViT-B config with the large
# encoder (1024 wide, 24 layers), drop path 0.2 and layer decay 0.85.
_base_ = ['./finetune_ivnext-vit-base-p14_32xb32-16x1x1-20e_coin.py']

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        init_cfg=dict(
            checkpoint='checkpoints/ivnext-s2_vitl14_encoder.safetensors')),
    cls_head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.85))
