# Table 4 "Stage-2 Semantic": Stage 2 with the Stage-1 semantic masks (ratio
# 0.8, from the attention of a frozen SigLIP2-Large) instead of multi-block
# masks.
_base_ = ['./stage2_vitb_ablation-base.py']

model = dict(
    masker=dict(_delete_=True, type='SemanticMasker', mask_ratio=0.8,
                mode='sample'),
    mask_teacher=dict(
        type='SigLIPTeacher',
        pretrained='google/siglip2-large-patch16-256',
        layers=(-1, ),
        image_size=256))
