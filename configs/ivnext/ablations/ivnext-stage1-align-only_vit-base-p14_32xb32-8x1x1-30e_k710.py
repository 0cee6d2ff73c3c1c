# Table 1(a) "SigLIP Align only": token and global alignment with the
# teacher, no predictor and no pixel reconstruction.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(predictor=None, pixel_head=None)
