# SigLIP 2 ViT-L/16 at 256 px (Hugging Face google/siglip2-large-patch16-256),
# frozen and applied to every frame: one encoder of the probe comparisons
# (configs/probes/zoo/, configs/probes/depth/zoo/). Loaded by transformers
# (`from_pretrained`: a hub id or a local folder); frames are resized to its
# 256 px and normalised with its own statistics inside the encoder, so the
# probes' ImageNet-normalised clips feed it unchanged. Tokens: 16 x 16 per
# frame, frame-major, as the video encoders return them.
frozen_encoder_dims = 1024
frozen_encoder = dict(
    type='mmivnext.PerFrameImageEncoder',
    pretrained='google/siglip2-large-patch16-256',
    out_type='raw',
    frozen=True)
