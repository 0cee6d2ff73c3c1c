# Table 1(c) "DiffMLP D9 W2048": a diffusion decoder of depth 9 and width 2048
# (default D6 W1536).
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(pixel_head=dict(depth=9, width=2048))
