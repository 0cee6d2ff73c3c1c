# Table 1(b) "ModernBert-L last2": the last 2 ModernBERT-Large layers as the
# predictor (default 5).
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(predictor=dict(num_layers=2))
