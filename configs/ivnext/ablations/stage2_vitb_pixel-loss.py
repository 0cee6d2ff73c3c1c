# Table 3 "if w/ Pixel Reconstruction Loss": the Stage-1 diffusion decoder
# also reconstructs the masked patches from the predictor's outputs.
_base_ = ['./stage2_vitb_ablation-base.py']

model = dict(
    pixel_head=dict(
        type='DiffMLPHead', width=1536, depth=6))
