# Attentive probe of a frozen InternVideo-Next ViT-L/14: as the ViT-B config
# with the large encoder (1024 wide, 24 layers).
_base_ = ['./attentive-probe_ivnext-vit-base-p14_8xb32-16x1x1-20e_mit.py']

model = dict(
    backbone=dict(
        arch='large',
        frozen_stages=24,
        init_cfg=dict(
            checkpoint='checkpoints/ivnext-s2_vitl14_encoder.safetensors')),
    cls_head=dict(in_channels=1024))
