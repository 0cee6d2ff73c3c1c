# DINOv3 ViT-L/16 (Hugging Face facebook/dinov3-vitl16-pretrain-lvd1689m),
# frozen and applied to every frame: one encoder of the probe comparisons
# (configs/probes/zoo/, configs/probes/depth/zoo/). Loaded by transformers
# (`from_pretrained`: a hub id or a local folder); frames keep the clip's
# 224 px (14 x 14 tokens each, the cls and register tokens dropped) and are
# normalised with the checkpoint's statistics inside the encoder.
frozen_encoder_dims = 1024
frozen_encoder = dict(
    type='mmivnext.PerFrameImageEncoder',
    pretrained='facebook/dinov3-vitl16-pretrain-lvd1689m',
    image_size=224,
    out_type='raw',
    frozen=True)
