# Table 1(a) "SigLIP Align only": token and global alignment with the
# teacher, no predictor and no pixel reconstruction.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(predictor=None, pixel_head=None)
