# Video-LLM connector (paper Table 11, the SigLIP2-L row) on SigLIP 2
# ViT-L/16 applied to every frame (frozen, transformers): its per-frame token
# grids (4 x 16 x 16) are pooled to 4 x 4 x 4 tokens as for the video encoders.
# Any other zoo encoder (V-JEPA 2, InternVideo2, VideoMAE v2, DINOv3) swaps in
# the same way.
_base_ = [
    './_base_/connector_qwen2-7b_32xb8-4x224-1e_stage1-mix.py',
    '../../../configs/_base_/encoders/siglip2_vit-large-p16.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, out_type='featmap'),
    visual_dims=_base_.frozen_encoder_dims)
