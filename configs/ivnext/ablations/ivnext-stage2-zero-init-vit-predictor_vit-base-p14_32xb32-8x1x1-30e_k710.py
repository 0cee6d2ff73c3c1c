# Table 3 "replace w/ Zero-Init V-JEPA Predictor": a randomly initialised
# 12-layer ViT predictor (V-JEPA's) instead of the Stage-1 ModernBERT layers.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        embed_dims=384,
        num_layers=12,
        num_heads=12),
    load_predictor=False)
