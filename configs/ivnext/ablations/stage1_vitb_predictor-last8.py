# Table 1(b) "ModernBert-L last8": the last 8 ModernBERT-Large layers as the
# predictor (default 5).
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(predictor=dict(num_layers=8))
