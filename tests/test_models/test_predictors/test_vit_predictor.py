"""VisionTransformerPredictor: tiny models only (width 32-48, depth 2-5)."""
import pytest
import torch
from predictor_helpers import GRID, IN_DIMS, NUM_CLS, random_inputs
from torch import nn
from torch.testing import assert_close

from mmivnext.models.predictors import VisionTransformerPredictor
from mmivnext.models.utils import TransformerEncoderLayer
from mmivnext.registry import MODELS


def build(**kwargs):
    cfg = dict(in_dims=IN_DIMS, grid_size=GRID, num_cls_tokens=NUM_CLS,
               embed_dims=48, num_layers=2, num_heads=4)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return VisionTransformerPredictor(**cfg).eval()


@pytest.mark.parametrize('num_layers', [2, 5])
def test_shapes(num_layers):
    model = build(num_layers=num_layers)
    assert len(model.layers) == num_layers
    assert all(isinstance(m, TransformerEncoderLayer) for m in model.layers)
    tokens, vis, msk = random_inputs(num_visible=4)
    with torch.no_grad():
        full = model(tokens, vis, msk)
        masked = model(tokens, vis, msk, masked_only=True)
    assert full.shape == (2, NUM_CLS + 18, 48)
    assert masked.shape == (2, 14, 48)
    for b in range(2):
        assert_close(masked[b], full[b, NUM_CLS + msk[b]])


def test_layers_then_final_norm():
    model = build(mlp_ratio=2.)
    assert model.layers[0].mlp.fc1.out_features == 96
    tokens, vis, msk = random_inputs()
    with torch.no_grad():
        x = model._embed(tokens, vis, msk, GRID)
        for layer in model.layers:
            x = layer(x)
        assert_close(model(tokens, vis, msk), model.norm(x))
    assert isinstance(build(final_norm=False).norm, nn.Identity)


def test_random_init():
    model = build(embed_dims=64, num_layers=3)
    for layer in model.layers:
        weight = layer.attn.qkv.weight
        assert 0.018 < weight.std() < 0.022
        assert layer.attn.qkv.bias.abs().sum() == 0
        assert (layer.norm1.weight == 1).all()


def test_gradients():
    model = build(drop_path_rate=0.1, with_cp=True).train()
    tokens, vis, msk = random_inputs()
    model(tokens, vis, msk, masked_only=True).square().sum().backward()
    for name in ('mask_token', 'proj.fc1.weight', 'layers.0.attn.qkv.weight',
                 'layers.1.mlp.fc2.weight', 'norm.weight'):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_errors():
    with pytest.raises(ValueError, match='num_layers must be >= 1'):
        build(num_layers=0)
    with pytest.raises(ValueError, match='divisible by num_heads'):
        build(num_heads=5)


def test_registry_build():
    model = MODELS.build(dict(
        type='mmivnext.VisionTransformerPredictor', in_dims=IN_DIMS,
        grid_size=GRID, num_cls_tokens=NUM_CLS, embed_dims=32, num_layers=2,
        num_heads=2))
    assert isinstance(model, VisionTransformerPredictor)
    assert model.embed_dims == 32
