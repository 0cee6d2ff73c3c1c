"""The analytic FLOP formulas against torch's FlopCounterMode (which counts
the matrix products that actually run) on tiny models."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.heads import DiffMLPHead, TokenAlignmentHead
from mmivnext.models.predictors import (ModernBertPredictor,
                                        VisionTransformerPredictor)
from mmivnext.models.teachers import SigLIPTeacher
from mmivnext.models.utils import sdpa_backends_context
from mmivnext.testing import save_tiny_modernbert, save_tiny_siglip
from mmivnext.utils import flops


def counted(fn):
    """FLOPs FlopCounterMode sees; SDPA runs unfused so that its matrix
    products are counted (its CPU flash kernel has no FLOP formula)."""
    with sdpa_backends_context(['math']), FlopCounterMode(display=False) as c:
        fn()
    return c.get_total_flops()


def tiny_vit(**kwargs):
    return VisionTransformer3D(
        arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                  feedforward_channels=256),
        img_size=56, num_frames=4, **kwargs)


@pytest.mark.parametrize('num_visible', [None, 13])
def test_vit3d(num_visible):
    model = tiny_vit(projector_cfg=dict(num_heads=4, out_dims=32))
    x = torch.randn(1, 3, 4, 56, 56)
    N = 4 * 4 * 4
    kwargs = {}
    if num_visible is not None:
        kwargs['visible_indices'] = torch.randperm(N)[:num_visible][None]
    expected = counted(lambda: model.projector(model(x, **kwargs)))
    assert flops.vit3d_flops(model, N, num_visible,
                             with_projector=True) == expected
    # Forward + backward: 3 x forward, but the clip needs no gradient.
    with sdpa_backends_context(['math']), \
            FlopCounterMode(display=False) as counter:
        model.projector(model(x, **kwargs)).sum().backward()
    assert counter.get_total_flops() == flops.vit3d_train_flops(
        model, N, num_visible, with_projector=True)


def test_predictors(tmp_path):
    bert = save_tiny_modernbert(str(tmp_path / 'bert'), hidden_size=32,
                                num_heads=2, local_attention=8)
    grid = (2, 2, 2)
    L = 4 + 8  # longer than the local window of 9
    bert_predictor = ModernBertPredictor(
        in_dims=64, grid_size=grid, num_cls_tokens=4, num_layers=2,
        pretrained=bert, local_attn_kernel='dense')
    assert [layer.half_window for layer in bert_predictor.layers] == [4, 4]
    for predictor in (
            bert_predictor,
            VisionTransformerPredictor(in_dims=64, grid_size=grid,
                                       num_cls_tokens=4, embed_dims=48,
                                       num_layers=2, num_heads=4)):
        order = torch.randperm(8)[None]
        tokens = torch.randn(1, 4 + 3, 64)
        expected = counted(lambda: predictor(tokens, order[:, :3],
                                             order[:, 3:]))
        # The dense kernel multiplies all L^2 query-key pairs of a local
        # layer; the count has the window's pairs only.
        if predictor is bert_predictor:
            expected -= 2 * (flops.attention_flops(L, L, 32) -
                             flops.attention_flops(
                                 1, flops.sliding_window_pairs(L, 4), 32))
        assert flops.predictor_flops(predictor, 8) == expected


@pytest.mark.parametrize('tokens', [1, 3, 5, 6, 20])
def test_sliding_window_pairs(tokens):
    """The closed form against the mask the local layers use."""
    from mmivnext.models.predictors.modernbert_layer import \
        sliding_window_mask
    assert flops.sliding_window_pairs(tokens, 4) == int(
        sliding_window_mask(tokens, 4).sum())


def test_siglip(tmp_path):
    path = save_tiny_siglip(str(tmp_path / 'siglip'), hidden_size=32,
                            num_heads=2, image_size=32)
    teacher = SigLIPTeacher(path, layers=(-1, ))
    frames = torch.randn(1, 3, 3, 32, 32)
    expected = counted(lambda: teacher(frames))
    patches = (teacher.image_size // teacher.patch_size)**2
    assert flops.siglip_flops(teacher.vision_model, 3, patches) == expected


def test_tokenwise_heads():
    head = DiffMLPHead(target_dims=48, cond_dims=32, width=64, depth=2)
    z = torch.randn(10, 32)
    x = torch.randn(10, 48)
    t = torch.randint(0, 1000, (10, ))
    assert flops.tokenwise_flops(head, 10) == counted(lambda: head(x, t, z))
    align = TokenAlignmentHead(in_dims=64, out_dims=32, grid_size=(1, 2, 4),
                               num_layers=2)
    feats = [torch.randn(1, 7, 64) for _ in range(2)]
    visible = torch.arange(7)[None]
    assert flops.tokenwise_flops(align, 7) == counted(
        lambda: align(feats, visible))
