# Table 1(c) "DiffMLP D3 W1024": a diffusion decoder of depth 3 and width 1024
# (default D6 W1536).
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(pixel_head=dict(depth=3, width=1024))
