"""DepthProbeHead: shapes, the patch layout of the output, the readout
written out by hand, the loss / predict contract. Tiny sizes: tokens of width
32, a 2-frame 28 x 42 output in 14-px patches (2 x 3 x 2 = 12 queries)."""
import math

import pytest
import torch
from mmengine.structures import BaseDataElement
from torch.testing import assert_close

from mmivnext.models.heads import DepthProbeHead

C, T, H, W, P = 32, 2, 28, 42, 14


def head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=C, num_frames=T, img_size=(H, W), patch_size=P,
               embed_dims=32, num_heads=2)
    return DepthProbeHead(**{**cfg, **kwargs})


def tokens(batch=2, length=10):
    return torch.randn(batch, length, C, generator=torch.Generator().
                       manual_seed(1))


def samples(gt):
    out = []
    for i, depth in enumerate(gt):
        s = BaseDataElement(metainfo=dict(sequence=f'seq{i}', window_start=0))
        s.gt_depth = depth
        out.append(s)
    return out


def test_shapes():
    h = head()
    assert h.query.shape == (1, 12, 32) and h.pos_embed.shape == (1, 12, 32)
    assert h.fc.out_features == P * P
    x = tokens()
    out = h(x)
    assert out.shape == (2, T, H, W) and out.dtype == torch.float32
    assert_close(h((x, )), out)
    # The paper's width is the default.
    assert DepthProbeHead(in_channels=C, num_frames=1, img_size=14,
                          num_heads=16).embed_dims == 1536


def test_unpatchify_layout():
    """Query (t, h, w) fills frame t, rows h*p.., columns w*p..; its p*p values
    are row-major."""
    h = head()
    Hq, Wq = H // P, W // P
    q_index = torch.arange(T * Hq * Wq).view(1, -1, 1).float()
    pixel = torch.arange(P * P).view(1, 1, -1).float()
    out = h.unpatchify(q_index * 1000 + pixel)  # [1, T, H, W]
    for t, qh, qw, i, j in [(0, 0, 0, 0, 0), (1, 1, 2, 3, 5),
                            (0, 1, 0, 13, 0), (1, 0, 1, 7, 13)]:
        q = (t * Hq + qh) * Wq + qw
        assert out[0, t, qh * P + i, qw * P + j] == q * 1000 + i * P + j


def test_forward_matches_reference():
    """One cross-attention layer and an MLP, written out by hand."""
    # float64 inside (the head returns float32): the SDPA kernel and the
    # formula round differently in fp32; here both round one float64 result.
    h = head().double().eval()
    with torch.no_grad():
        for param in h.parameters():  # far from the near-uniform init
            param.normal_(0, 0.3)
    x = tokens().double()
    kv = h.norm_kv(x @ h.in_proj.weight.T + h.in_proj.bias)
    q = (h.query + h.pos_embed).expand(2, -1, -1)
    a = h.attn
    qq = a.q(h.norm_q(q)).view(2, 12, 2, 16).transpose(1, 2)
    kk = a.k(kv).view(2, 10, 2, 16).transpose(1, 2)
    vv = a.v(kv).view(2, 10, 2, 16).transpose(1, 2)
    attn = torch.softmax(qq @ kk.transpose(-1, -2) / math.sqrt(16), dim=-1)
    q = q + a.proj((attn @ vv).transpose(1, 2).reshape(2, 12, 32))
    q = q + h.mlp(h.norm_mlp(q))
    patches = h.fc(h.norm_out(q))  # [2, 12, 196]
    expected = patches.view(2, T, 2, 3, P, P).permute(0, 1, 2, 4, 3, 5)
    assert_close(h(x), expected.reshape(2, T, H, W).float())


def test_predictions_start_at_init_depth():
    h = head(init_depth=3.)
    with torch.no_grad():
        h.fc.weight.zero_()
    out = h.predict(tokens(), samples(torch.ones(2, T, H, W)))
    assert_close(out[0].pred_depth, torch.full((T, H, W), 3.))
    # With the default init the log-depth is close to log 3 everywhere.
    log_depth = head(init_depth=3.)(tokens())
    assert (log_depth - math.log(3.)).abs().max() < 0.5


def test_loss_uses_the_depth_range_and_trains_the_head():
    h = head(depth_range=(0.5, 5.))
    gt = torch.full((2, T, H, W), 2.)
    gt[:, :, :14] = 9.  # beyond the range: not supervised
    gt[1] = 0.  # no valid pixel in the second clip
    losses = h.loss(tokens(), samples(gt))
    assert set(losses) == {'loss_depth'}
    log_depth = h(tokens())
    valid = torch.zeros_like(gt, dtype=torch.bool)
    valid[0, :, 14:] = True
    expected = h.loss_module(log_depth, gt, valid)
    assert_close(losses['loss_depth'], expected)
    losses['loss_depth'].backward()
    for name in ('query', 'in_proj.weight', 'attn.q.weight', 'fc.bias'):
        assert dict(h.named_parameters())[name].grad.abs().sum() > 0, name


def test_errors():
    with pytest.raises(ValueError, match='multiple of patch_size 14'):
        head(img_size=(28, 40))
    with pytest.raises(ValueError, match='init_depth'):
        head(init_depth=0.)
    with pytest.raises(ValueError, match='depth_range'):
        head(depth_range=(5., 1.))
    h = head()
    with pytest.raises(ValueError, match=r'tokens \[B, L, 32\]'):
        h(torch.randn(2, 10, 16))
    with pytest.raises(ValueError, match='one token tensor, got 2'):
        h((tokens(), tokens()))
    with pytest.raises(ValueError, match=r"seq1'? has shape \(2, 14, 42\)"):
        h.loss(tokens(), samples([torch.ones(T, H, W),
                                  torch.ones(T, 14, W)]))
