# Table 1(b) "Depth-12 ViT": a randomly initialised 12-layer ViT predictor
# (1024 wide) instead of ModernBERT layers.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        embed_dims=1024,
        num_layers=12,
        num_heads=16))
