# Video depth probe (paper Table 6 "w/ a simple probing head", appendix A.3):
# a frozen InternVideo-Next ViT-L/14 encoder (the released layout, as in the
# attentive-probe configs) and a DepthProbeHead: learnable queries of width
# 1536, one per 14 x 14 depth patch and frame, cross-attend once over the
# encoder's tokens and are read out as log-depth; SILog loss (lambda 0.85).
# Only the head trains. Runs in mmivnext's scope (default_scope = 'mmivnext').
# Inheriting configs set the clip (num_frames, img_size) and the depth range.
_base_ = ['./frozen-ivnext-encoder_vit-base-p14.py']

encoder = 'checkpoints/ivnext-s2_vitl14_encoder.safetensors'
embed_dims = 1024
num_layers = 24

model = dict(
    type='DepthProbe',
    backbone=dict(
        arch='large',
        img_size=224,
        num_frames=32,
        frozen_stages=num_layers,  # all frozen, kept in eval mode
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    head=dict(
        type='DepthProbeHead',
        in_channels=embed_dims,
        num_frames=32,
        img_size=224,
        patch_size=14,
        embed_dims=1536,
        num_heads=16,
        depth_range=(1e-3, 80.),
        loss=dict(type='SILogLoss', variance_focus=0.85)),
    data_preprocessor=dict(
        type='mmaction.ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
