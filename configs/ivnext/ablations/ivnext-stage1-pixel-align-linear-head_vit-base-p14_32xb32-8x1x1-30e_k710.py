# Table 1(a) "Pixel Rec. + Align": alignment plus pixel reconstruction with a
# linear decoder and a randomly initialised predictor.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    predictor=dict(init='none'),
    pixel_head=dict(_delete_=True, type='LinearPixelHead'))
