# Table 1(c) "DiffMLP D9 W2048": a diffusion decoder of depth 9 and width 2048
# (default D6 W1536).
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(pixel_head=dict(depth=9, width=2048))
