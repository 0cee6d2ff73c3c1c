# Table 1(b) "Depth-12 ViT": a randomly initialised 12-layer ViT predictor
# (1024 wide) instead of ModernBERT layers.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        embed_dims=1024,
        num_layers=12,
        num_heads=16))
