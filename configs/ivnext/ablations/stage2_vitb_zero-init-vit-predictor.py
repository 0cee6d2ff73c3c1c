# Table 3 "replace w/ Zero-Init V-JEPA Predictor": a randomly initialised
# 12-layer ViT predictor (V-JEPA's) instead of the Stage-1 ModernBERT layers.
_base_ = ['./stage2_vitb_ablation-base.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        embed_dims=384,
        num_layers=12,
        num_heads=12),
    load_predictor=False)
