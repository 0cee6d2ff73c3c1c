# Table 1(a) "+ Text-Decoder Init" and Table 1(c) "Linear Head": the
# text-initialised predictor with a linear pixel decoder.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    pixel_head=dict(_delete_=True, type='LinearPixelHead'))
