# Table 3 "replace w/ Frozen SigLIP2 Target": the latents of a frozen
# SigLIP2-Large (last layer, per frame, 16 x 16 patches of 16 px at 256 px)
# instead of the Stage-1 encoder's.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    teacher=dict(
        _delete_=True,
        type='SigLIPTeacher',
        pretrained='google/siglip2-large-patch16-256',
        layers=(-1, ),
        image_size=256))
