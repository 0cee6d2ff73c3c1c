# Table 1(a) "Pixel Recon. Baseline": masked pixel reconstruction alone -
# random masking (no teacher), a randomly initialised ModernBERT predictor and
# a linear pixel decoder, as in MAE / VideoMAE.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    backbone=dict(projector_cfg=None),  # no global alignment: no projector
    teacher=None,
    masker=dict(_delete_=True, type='RandomMasker', mask_ratio=0.8),
    predictor=dict(init='none'),
    pixel_head=dict(_delete_=True, type='LinearPixelHead'),
    align_head=None,
    global_align_head=None)
