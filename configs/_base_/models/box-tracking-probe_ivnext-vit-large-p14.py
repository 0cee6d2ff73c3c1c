# Object-tracking probe (paper Table 7, appendix A.4, after Scaling 4D
# Representations): a frozen InternVideo-Next ViT-L/14 encoder (the released
# layout, as in the attentive-probe configs) gives its feature map; a
# BoxTrackingHead encodes each first-frame box as a query (MLP on the box and
# its Fourier features), cross-attends once over the projected tokens and
# regresses the boxes of frames 2..16 linearly. Smooth L1 (1.0) + GIoU (0.5).
# Only the head trains. Runs in mmivnext's scope (default_scope = 'mmivnext').
_base_ = ['./frozen-ivnext-encoder_vit-base-p14.py']

encoder = 'checkpoints/ivnext-s2_vitl14_encoder.safetensors'
embed_dims = 1024
num_layers = 24
num_frames = 16
img_size = 224

model = dict(
    type='BoxTrackingProbe',
    backbone=dict(
        arch='large',
        img_size=img_size,
        num_frames=num_frames,
        frozen_stages=num_layers,  # all frozen, kept in eval mode
        out_type='featmap',  # [B, C, T', H', W'], cls tokens left out
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    head=dict(
        type='BoxTrackingHead',
        in_channels=embed_dims,
        num_frames=num_frames,
        # Head width and Fourier bands are our choices (the paper gives
        # none): the encoder's width, 8 octaves per box coordinate.
        embed_dims=1024,
        num_heads=16,
        num_fourier_bands=8,
        with_pos_embed=True,
        residual_to_first_box=True,
        # The paper's weights; beta is ours (boxes are normalised to [0, 1]).
        loss_bbox=dict(type='BoxSmoothL1Loss', beta=0.1, loss_weight=1.0),
        loss_giou=dict(type='GIoULoss', loss_weight=0.5)),
    data_preprocessor=dict(
        type='mmaction.ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
