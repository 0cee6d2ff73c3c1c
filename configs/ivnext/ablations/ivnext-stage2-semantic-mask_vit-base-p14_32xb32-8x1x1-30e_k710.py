# Table 4 "Stage-2 Semantic": Stage 2 with the Stage-1 semantic masks (ratio
# 0.8, from the attention of a frozen SigLIP2-Large) instead of multi-block
# masks.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    masker=dict(_delete_=True, type='SemanticMasker', mask_ratio=0.8,
                mode='sample'),
    mask_teacher=dict(
        type='SigLIPTeacher',
        pretrained='google/siglip2-large-patch16-256',
        layers=(-1, ),
        image_size=256))
