"""ModernBertLayer (transformers' ModernBertEncoderLayer, run by the predictor)
against the ModernBERT layer formula written out here, independently.

The formula is the one mmivnext implemented by hand before using
transformers' layer: pre-norm attention with RoPE of positions 0..L-1 applied
in float32 (rotate-half), a local layer's token i attending to |i - j| <= half
the local window, then a pre-norm GLU MLP.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from predictor_helpers import TINY_BERT
from torch.nn.attention.flex_attention import flex_attention
from torch.testing import assert_close

from mmivnext.models.predictors import ModernBertPredictor, modernbert_layer
from mmivnext.models.predictors.modernbert_layer import (
    ModernBertLayer, SlidingWindow, blocked_sliding_window_attention,
    predictor_attention, rotary_cos_sin,
    sliding_window_block_mask, sliding_window_mask)
from mmivnext.models.utils import sdpa_backends_context

L = 21  # longer than the local window (8): the window matters


def bert_config(**kwargs):
    from transformers import ModernBertConfig
    return ModernBertConfig(**dict(TINY_BERT, **kwargs))


def randomise(module, seed=0):
    """Weights well away from the init, so that every term shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
            p.copy_(1 + 0.1 * noise if 'norm' in name else 0.1 * noise)
    return module


def reference_layer(p, x, heads, theta, half_window, eps=1e-5):
    """One ModernBERT layer from its state dict ``p`` (no biases)."""
    B, n, D = x.shape
    d = D // heads
    h = F.layer_norm(x, (D, ), p['attn_norm.weight'], None, eps) \
        if 'attn_norm.weight' in p else x
    q, k, v = F.linear(h, p['attn.Wqkv.weight']).view(
        B, n, 3, heads, d).permute(2, 0, 3, 1, 4)  # each [B, h, L, d]
    inv_freq = 1.0 / theta**(torch.arange(0, d, 2).float() / d)
    angles = torch.arange(n).float()[:, None] * inv_freq[None]
    angles = torch.cat([angles, angles], -1)  # [L, d], float32

    def rope(t):  # in float32
        t32 = t.float()
        half = torch.cat([-t32[..., d // 2:], t32[..., :d // 2]], -1)
        return (t32 * angles.cos() + half * angles.sin()).to(t.dtype)

    scores = rope(q) @ rope(k).transpose(-1, -2) / math.sqrt(d)
    if half_window is not None:
        i = torch.arange(n)
        scores = scores.masked_fill(
            (i[:, None] - i[None]).abs() > half_window, -math.inf)
    attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, n, D)
    x = x + F.linear(attn, p['attn.Wo.weight'])
    h = F.layer_norm(x, (D, ), p['mlp_norm.weight'], None, eps)
    inp, gate = F.linear(h, p['mlp.Wi.weight']).chunk(2, -1)
    return x + F.linear(F.gelu(inp) * gate, p['mlp.Wo.weight'])


def test_parameter_names_are_the_checkpoints():
    from transformers import ModernBertModel
    config = bert_config()
    model = ModernBertModel(config)
    for i in range(6):
        assert list(ModernBertLayer(config, i).state_dict()) == \
            list(model.layers[i].state_dict())
    assert 'attn_norm.weight' not in ModernBertLayer(config, 0).state_dict()


def tolerance(dtype):
    """The two sides sum in different orders (fused SDPA or not, on any
    CPU's kernels): each of the layer's sums of at most K = 128 products
    (TINY_BERT's intermediate size; 64 elsewhere) may differ by about K unit
    roundoffs relative to values of order one; 2 x 256 covers the chain of
    such sums with margin."""
    eps = torch.finfo(dtype).eps / 2
    return dict(rtol=2 * 256 * eps, atol=2 * 256 * eps)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('attn_implementation', [None, 'eager', 'sdpa'])
def test_layers_follow_the_formula(dtype, attn_implementation):
    """Global and local layers, layer 0 (no attention norm) included, as the
    predictor calls them; whatever backend the config names."""
    config = bert_config(attn_implementation=attn_implementation)
    x = torch.randn(2, L, 64, generator=torch.Generator().manual_seed(1),
                    dtype=dtype)
    for idx in range(6):
        layer = randomise(ModernBertLayer(config, idx)).to(dtype).eval()
        kind = config.layer_types[idx]
        assert layer.is_global == (kind == 'full_attention')
        theta = config.rope_parameters[kind]['rope_theta']
        assert layer.rope_theta == theta
        mask = None if layer.is_global else sliding_window_mask(L, 4)
        with torch.no_grad():
            out = layer(x, rotary_cos_sin(config, kind, L), mask)
            expected = reference_layer(layer.state_dict(), x, 4, theta,
                                       layer.half_window)
        assert out.dtype == dtype
        assert_close(out, expected, **tolerance(dtype))


def test_rope_stays_float32():
    config = bert_config()
    for kind in ('full_attention', 'sliding_attention'):
        cos, sin = rotary_cos_sin(config, kind, L)
        assert cos.dtype == sin.dtype == torch.float32
        assert cos.shape == (1, L, 16)
        theta = config.rope_parameters[kind]['rope_theta']
        inv_freq = 1.0 / theta**(torch.arange(0, 16, 2).float() / 16)
        angles = torch.arange(L).float()[:, None] * inv_freq
        angles = torch.cat([angles, angles], -1)
        assert_close(cos[0], angles.cos())
        assert_close(sin[0], angles.sin())
    # bfloat16 activations: RoPE in float32, as in the formula.
    layer = randomise(ModernBertLayer(config, 1)).eval()
    x = torch.randn(2, L, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = layer.to(torch.bfloat16)(
            x.bfloat16(), rotary_cos_sin(config, 'sliding_attention', L),
            sliding_window_mask(L, 4))
        expected = reference_layer(
            {k: v.float() for k, v in layer.state_dict().items()}, x, 4,
            1e4, 4)
    assert out.dtype == torch.bfloat16
    # bf16 rounds inputs, weights and every intermediate (unit roundoff
    # 2**-9 ~ 2e-3): about ten roundings of order-one values in a chain,
    # i.e. ~0.02, doubled.
    assert_close(out.float(), expected, rtol=0.05, atol=0.05)


def test_whole_predictor_stack_follows_the_formula():
    """The predictor's last four layers (local, global, local, local) in
    float64, from a config dict, against the formula layer after layer."""
    torch.manual_seed(0)
    predictor = ModernBertPredictor(in_dims=32, grid_size=(2, 3, 3),
                                    num_cls_tokens=2, num_layers=4,
                                    pretrained=TINY_BERT, init='none')
    randomise(predictor).double().eval()
    x = torch.randn(2, 20, 64, dtype=torch.float64)
    expected = x
    for layer in predictor.layers:
        expected = reference_layer(layer.state_dict(), expected, 4,
                                   layer.rope_theta, layer.half_window)
    with torch.no_grad():
        assert_close(predictor._forward_layers(x), expected)
    assert [layer.half_window for layer in predictor.layers] == [4, None, 4, 4]


# ------------------------------------------------ local-attention kernels
def dense_window_attention(q, k, v, half_window):
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=sliding_window_mask(q.shape[2], half_window))


@pytest.mark.parametrize('seq_len,half_window,block', [
    (21, 4, 8),  # L not a multiple of the block; padding over h rows
    (24, 4, 8),  # a multiple
    (5, 4, 8),  # L shorter than the window
    (21, 3, 4),  # block smaller than the window
])
def test_blocked_kernel_equals_dense(seq_len, half_window, block):
    """Outputs and input gradients in float64, against masked SDPA."""
    g = torch.Generator().manual_seed(3)
    inputs = [torch.randn(2, 3, seq_len, 8, generator=g, dtype=torch.float64,
                          requires_grad=True) for _ in range(3)]
    window = SlidingWindow(half_window, block)
    results = []
    for run in (lambda *t: dense_window_attention(*t, half_window),
                lambda *t: blocked_sliding_window_attention(*t, window)):
        out = run(*inputs)
        grads = torch.autograd.grad((out * out.detach().cos()).sum(), inputs)
        results.append((out, *grads))
    for got, expected in zip(results[1], results[0]):
        assert_close(got, expected)


def test_blocked_kernel_skips_blocks_outside_the_window():
    """It multiplies only the band of blocks: n b (b + 2 h) scores per head,
    not L^2 (SDPA unfused, so that the counter sees its products)."""
    from torch.utils.flop_counter import FlopCounterMode
    B, H, L, d, h, b = 1, 2, 200, 8, 4, 8
    q = k = v = torch.randn(B, H, L, d)
    counted = []
    for run in (lambda: dense_window_attention(q, k, v, h),
                lambda: blocked_sliding_window_attention(
                    q, k, v, SlidingWindow(h, b))):
        with sdpa_backends_context(['math']), \
                FlopCounterMode(display=False) as counter:
            run()
        counted.append(counter.get_total_flops())
    n = -(-L // b)
    assert counted == [4 * B * H * L * L * d,
                       4 * B * H * n * b * (b + 2 * h) * d]


def test_flex_kernel_equals_dense(monkeypatch):
    """flex_attention with the sliding-window BlockMask, through the layers'
    attention function, float32 (forward only: torch 2.13 has no
    FlexAttention backward on CPU). Uncompiled here (its compilation takes
    ~10 s on 2 cores; the kernel is torch's): the same blocks are skipped.
    Sums of at most d = 8 products and softmaxes over at most 9 scores: a few
    eps of order-one values apart by summation order."""
    monkeypatch.setattr(modernbert_layer, '_compiled_flex_attention',
                        flex_attention)
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, 2, 21, 8, generator=g) for _ in range(3))
    out, _ = predictor_attention(None, q, k, v,
                                 sliding_window_block_mask(21, 4))
    assert_close(out.transpose(1, 2), dense_window_attention(q, k, v, 4),
                 **tolerance(torch.float32))
