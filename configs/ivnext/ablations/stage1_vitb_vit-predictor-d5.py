# Table 1(b) "Depth-5 ViT": a randomly initialised 5-layer ViT predictor
# (1024 wide) instead of ModernBERT layers.
_base_ = ['./stage1_vitb_ablation-base.py']

model = dict(
    predictor=dict(
        _delete_=True,
        type='VisionTransformerPredictor',
        in_dims={{_base_.embed_dims}},
        grid_size={{_base_.grid_size}},
        num_cls_tokens=4,
        embed_dims=1024,
        num_layers=5,
        num_heads=16))
