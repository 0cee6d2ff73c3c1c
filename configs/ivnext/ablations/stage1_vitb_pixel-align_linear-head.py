# Table 1(a) "Pixel Rec. + Align": alignment plus pixel reconstruction with a
# linear decoder and a randomly initialised predictor.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(
    predictor=dict(init='none'),
    pixel_head=dict(_delete_=True, type='LinearPixelHead'))
