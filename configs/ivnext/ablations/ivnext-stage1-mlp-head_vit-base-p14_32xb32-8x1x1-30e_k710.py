# Table 1(c) "3-Layer MLP Head": the text-initialised predictor with a
# 3-layer MLP pixel decoder.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    pixel_head=dict(_delete_=True, type='MLPPixelHead',
                    hidden_dims=1536))
