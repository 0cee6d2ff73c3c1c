# Table 1(c) "DiffMLP D3 W1024": a diffusion decoder of depth 3 and width 1024
# (default D6 W1536).
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(pixel_head=dict(depth=3, width=1024))
