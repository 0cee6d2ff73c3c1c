# Table 1(a) "+ Text-Decoder Init" and Table 1(c) "Linear Head": the
# text-initialised predictor with a linear pixel decoder.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(
    pixel_head=dict(_delete_=True, type='LinearPixelHead'))
