# Table 3 "if w/ Pixel Reconstruction Loss": the Stage-1 diffusion decoder
# also reconstructs the masked patches from the predictor's outputs.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    pixel_head=dict(
        type='DiffMLPHead', width=1536, depth=6))
