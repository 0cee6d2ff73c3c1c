"""The input pipeline shared by the predictors (BasePredictor), on both
subclasses: mask-token filling, position embedding and its resize, output
gathering, input checks."""
import pytest
import torch
from predictor_helpers import GRID, IN_DIMS, NUM_CLS, TINY_BERT, random_inputs
from torch import nn
from torch.testing import assert_close

from mmivnext.models.predictors import (BasePredictor, ModernBertPredictor,
                                        VisionTransformerPredictor)
from mmivnext.models.utils import get_3d_sincos_pos_embed, resize_pos_embed_3d


def build(kind, grid=GRID, **kwargs):
    torch.manual_seed(0)
    common = dict(in_dims=IN_DIMS, grid_size=grid, num_cls_tokens=NUM_CLS)
    if kind == 'modernbert':
        model = ModernBertPredictor(num_layers=2, pretrained=TINY_BERT,
                                    init='none', **common, **kwargs)
    else:
        model = VisionTransformerPredictor(embed_dims=48, num_layers=2,
                                           num_heads=4, **common, **kwargs)
    return model.eval()


KINDS = ['modernbert', 'vit']


def without_layers(model):
    """The model with its layers (and the ViT's final norm) removed, so that
    its output is the projected layer input."""
    model.layers = nn.ModuleList()
    if isinstance(model, VisionTransformerPredictor):
        model.norm = nn.Identity()
    return model


@pytest.mark.parametrize('kind', KINDS)
def test_pos_embed_init(kind):
    model = build(kind)
    expected = get_3d_sincos_pos_embed(IN_DIMS, GRID, NUM_CLS).unsqueeze(0)
    assert isinstance(model.pos_embed, nn.Parameter)
    assert_close(model.pos_embed.data, expected)
    assert model.pos_embed[0, :NUM_CLS].abs().sum() == 0
    assert model.pos_embed_grid.tolist() == list(GRID)
    assert isinstance(model.mask_token, nn.Parameter)
    assert model.mask_token.shape == (1, 1, IN_DIMS)


@pytest.mark.parametrize('kind', KINDS)
def test_layer_input_is_tokens_or_mask_token_plus_pos_embed(kind):
    # float64: the projection runs on [2, L, C] and [L, C], other kernels.
    model = without_layers(build(kind)).double()
    with torch.no_grad():  # cls rows non-zero too
        model.pos_embed.normal_()
    tokens, vis, msk = random_inputs(sort=False)
    tokens = tokens.double()
    with torch.no_grad():
        out = model(tokens, vis, msk)
        pos = model.pos_embed[0]  # [num_cls + N, C]
        for b in range(2):
            expected = torch.empty(NUM_CLS + 18, IN_DIMS, dtype=torch.float64)
            expected[:NUM_CLS] = tokens[b, :NUM_CLS] + pos[:NUM_CLS]
            for j, n in enumerate(vis[b].tolist()):
                expected[NUM_CLS + n] = tokens[b, NUM_CLS + j] + pos[NUM_CLS + n]
            for n in msk[b].tolist():
                expected[NUM_CLS + n] = model.mask_token[0, 0] + pos[NUM_CLS + n]
            assert_close(out[b], model.proj(expected))


def test_projection_is_mlp_then_layernorm():
    model = build('vit')
    proj = model.proj
    assert [type(m) for m in proj] == [nn.Linear, nn.GELU, nn.Linear,
                                       nn.LayerNorm]
    assert proj.fc1.weight.shape == (IN_DIMS, IN_DIMS)
    assert proj.fc2.weight.shape == (48, IN_DIMS)
    x = torch.randn(3, IN_DIMS)
    expected = nn.functional.layer_norm(
        proj.fc2(nn.functional.gelu(proj.fc1(x))), (48, ), proj.norm.weight,
        proj.norm.bias, 1e-5)
    assert_close(proj(x), expected)


@pytest.mark.parametrize('kind', KINDS)
def test_visible_order_does_not_matter(kind):
    model = build(kind)
    tokens, vis, msk = random_inputs()
    perm = torch.randperm(vis.shape[1])
    shuffled = torch.cat([tokens[:, :NUM_CLS], tokens[:, NUM_CLS:][:, perm]], 1)
    with torch.no_grad():
        assert_close(model(shuffled, vis[:, perm], msk.flip(1)),
                     model(tokens, vis, msk))


def test_select_tokens():
    x = torch.arange(2 * 5 * 1.).view(2, 5, 1)
    out = BasePredictor.select_tokens(x, torch.tensor([[2, 0], [1, 2]]), 2)
    assert out.squeeze(-1).tolist() == [[4., 2.], [8., 9.]]


# ------------------------------------------------------------ pos-embed resize
@pytest.mark.parametrize('with_grid_entry', [True, False])
def test_pos_embed_resized_on_load(with_grid_entry):
    src = build('vit', grid=(2, 3, 3))
    with torch.no_grad():
        src.pos_embed.normal_()
    state = src.state_dict()
    if not with_grid_entry:  # e.g. a converted checkpoint: grid inferred
        del state['pos_embed_grid']
    dst = build('vit', grid=(4, 3, 3))
    dst.load_state_dict(state)
    expected = resize_pos_embed_3d(src.pos_embed.data, (2, 3, 3), (4, 3, 3),
                                   NUM_CLS)
    assert dst.pos_embed.shape == (1, NUM_CLS + 36, IN_DIMS)
    assert_close(dst.pos_embed.data, expected)
    assert_close(dst.pos_embed[0, :NUM_CLS], src.pos_embed[0, :NUM_CLS])
    assert dst.pos_embed_grid.tolist() == [4, 3, 3]
    assert_close(dst.proj.fc1.weight, src.proj.fc1.weight)


def test_forward_on_another_grid_resizes_on_the_fly():
    small, large = build('vit', grid=(2, 3, 3)), build('vit', grid=(4, 3, 3))
    large.load_state_dict(small.state_dict())
    tokens, vis, msk = random_inputs(grid=(4, 3, 3), num_visible=7)
    with torch.no_grad():
        assert_close(small(tokens, vis, msk, grid_size=(4, 3, 3)),
                     large(tokens, vis, msk))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize('case,error,match', [
    ('width', ValueError, r'tokens must be \[B, num_cls \+ K, C=32\]'),
    ('token_count', ValueError, 'tokens has 6 tokens'),
    ('float_indices', TypeError, 'visible_indices must be an integer'),
    ('index_shape', ValueError, r'masked_indices must have shape \[B=2, n\]'),
    ('sum', ValueError, r'K \+ M = 5 \+ 12 = 17'),
    ('duplicate', ValueError, 'exactly once'),
    ('range', ValueError, r'must lie in \[0, 18\)'),
])
def test_input_errors(case, error, match):
    model = build('vit')
    tokens, vis, msk = random_inputs()
    if case == 'width':
        tokens = torch.randn(2, NUM_CLS + 5, IN_DIMS + 1)
    elif case == 'token_count':
        tokens = tokens[:, :-1]
    elif case == 'float_indices':
        vis = vis.float()
    elif case == 'index_shape':
        msk = msk[0]
    elif case == 'sum':
        msk = msk[:, 1:]
    elif case == 'duplicate':
        msk = msk.clone()
        msk[0, 0] = vis[0, 0]
    elif case == 'range':
        msk = msk.clone()
        msk[1, -1] = 18
    with pytest.raises(error, match=match):
        model(tokens, vis, msk)


def test_bad_construction():
    with pytest.raises(ValueError, match='grid_size must be three'):
        build('vit', grid=(2, 3))
    with pytest.raises(ValueError, match='num_cls_tokens must be >= 0'):
        VisionTransformerPredictor(in_dims=IN_DIMS, grid_size=GRID,
                                   num_cls_tokens=-1)
