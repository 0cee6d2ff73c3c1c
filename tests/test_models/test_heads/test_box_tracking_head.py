"""BoxTrackingHead: box queries, one cross-attention layer, linear boxes."""
import math

import pytest
import torch
from torch.testing import assert_close

from mmivnext.models.heads import BoxTrackingHead
from mmivnext.models.heads.box_tracking_head import fourier_box_encoding

C, T = 32, 6


def head(**kwargs):
    torch.manual_seed(0)
    return BoxTrackingHead(**{**dict(in_channels=C, num_frames=T,
                                     embed_dims=32, num_heads=2), **kwargs})


def first_boxes(batch, count, seed=0):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, count, 2, generator=gen) * 0.5
    return torch.cat([xy, xy + 0.2 + torch.rand(batch, count, 2,
                                                generator=gen) * 0.3], -1)


def feats(batch=2):
    return torch.randn(batch, C, 3, 2, 2)  # [B, C, T', H', W']


def test_output_boxes():
    out = head()(feats(), first_boxes(2, 5))
    assert out.shape == (2, 5, T - 1, 4) and out.dtype == torch.float32
    assert (out[..., 2:] >= out[..., :2]).all()  # x1 <= x2, y1 <= y2


def test_zero_regression_repeats_the_first_box():
    h = head()
    torch.nn.init.zeros_(h.regressor.weight)
    torch.nn.init.zeros_(h.regressor.bias)
    boxes = first_boxes(2, 3)
    out = h(feats(), boxes)
    assert_close(out, boxes.unsqueeze(2).expand_as(out), atol=1e-5, rtol=0)
    # Without the residual, a zero output is the centred half-size box.
    h = head(residual_to_first_box=False)
    torch.nn.init.zeros_(h.regressor.weight)
    torch.nn.init.zeros_(h.regressor.bias)
    assert_close(h(feats(), boxes)[0, 0, 0],
                 torch.tensor([0.25, 0.25, 0.75, 0.75]))


def test_padding_does_not_change_the_real_objects():
    # float64 inside (boxes come out in float32): 25 and 2 queries run
    # different GEMM kernels, whose fp32 rounding would differ.
    h = head().double().eval()
    x = feats(1).double()
    boxes = first_boxes(1, 2)
    padded = torch.cat([boxes, torch.zeros(1, 23, 4)], dim=1)  # 25 queries
    assert_close(h(x, padded)[:, :2], h(x, boxes))


def test_the_query_is_the_box():
    # Each box gets its own output: one cross-attention layer, no
    # self-attention between the queries.
    h = head().eval()
    x = feats(1)
    boxes = first_boxes(1, 2)
    swapped = boxes.flip(1)
    assert_close(h(x, swapped), h(x, boxes).flip(1))
    assert not torch.allclose(h(x, boxes)[0, 0], h(x, boxes)[0, 1])


def test_loss_uses_visible_pairs_of_frames_2_to_T():
    h = head()
    x, boxes = feats(), first_boxes(2, 3)
    gt = boxes.unsqueeze(2).repeat(1, 1, T, 1)  # still objects
    valid = torch.ones(2, 3, T, dtype=torch.bool)
    valid[1, 2] = False  # padding
    valid[0, 1, 4] = False  # not visible
    losses = h.loss(x, boxes, gt, valid)
    assert set(losses) == {'loss_bbox', 'loss_giou'}
    # Frame 1 and the pairs that are not valid do not count.
    changed = gt.clone()
    changed[:, :, 0] = 0.
    changed[1, 2] = 0.
    changed[0, 1, 4] = 0.
    for name, value in h.loss(x, boxes, changed, valid).items():
        assert_close(value, losses[name])
    changed[0, 0, 1] = 0.5
    assert not torch.allclose(h.loss(x, boxes, changed, valid)['loss_bbox'],
                              losses['loss_bbox'])
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in h.parameters())


def test_fourier_encoding_by_hand():
    box = torch.tensor([[0.25, 0.5, 0.75, 1.0]])
    enc = fourier_box_encoding(box, num_bands=2)  # 4 + 8 sines + 8 cosines
    assert enc.shape == (1, 20)
    assert_close(enc[0, :4], box[0])
    # Sines of coordinate 0 (0.25) at pi and 2 pi, then coordinate 1...
    assert_close(enc[0, 4:6], torch.tensor([math.sin(math.pi / 4),
                                            math.sin(math.pi / 2)]))
    assert_close(enc[0, 12:14], torch.tensor([math.cos(math.pi / 4),
                                              math.cos(math.pi / 2)]))
    assert fourier_box_encoding(box, 0) is box


def test_errors():
    with pytest.raises(ValueError, match='divisible by 16'):
        head(embed_dims=40, num_heads=2)
    with pytest.raises(ValueError, match="out_type='featmap'"):
        head()(torch.randn(2, 12, C), first_boxes(2, 1))
    with pytest.raises(ValueError, match=r'first_boxes \[B=2, N, 4\]'):
        head()(feats(), first_boxes(1, 1))
    with pytest.raises(ValueError, match='num_frames=6'):
        h = head()
        h.loss(feats(), first_boxes(2, 1), torch.zeros(2, 1, 5, 4),
               torch.ones(2, 1, 5, dtype=torch.bool))
