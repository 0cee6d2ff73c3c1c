# Table 3 "replace w/ Zero-Init V-JEPA Predictor": a randomly initialised
# 12-layer ViT predictor (V-JEPA's) instead of the Stage-1 ModernBERT layers.
_base_ = ['./stage2_vitb_ablation-base.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        in_dims={{_base_.embed_dims}},
        grid_size={{_base_.grid_size}},
        num_cls_tokens=4,
        embed_dims=384,
        num_layers=12,
        num_heads=12),
    head=dict(in_dims=384),
    load_predictor=False)
