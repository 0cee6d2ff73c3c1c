# Table 1(c) "3-Layer MLP Head": the text-initialised predictor with a
# 3-layer MLP pixel decoder.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(
    pixel_head=dict(_delete_=True, type='MLPPixelHead',
                    hidden_dims=1536))
