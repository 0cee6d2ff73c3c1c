"""Attention, norm, transformer-layer and patch-embedding building blocks."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.utils import (AttentionPoolingBlock, CrossAttention,
                                   MultiheadSelfAttention, PatchEmbed3D,
                                   TransformerEncoderLayer, build_norm,
                                   patchify_3d, unpatchify_3d)


def softmax_attention(q, k, v):
    """Reference attention on [B, h, N, d] tensors."""
    attn = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    return attn.softmax(dim=-1) @ v


def randomise(module):
    """Make every parameter non-trivial (norm weights are ones at init)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + 1.0)
    return module.double()


@pytest.mark.parametrize('qk_norm,across', [(None, False), ('rmsnorm', False),
                                            ('rmsnorm', True),
                                            ('layernorm', False)])
def test_self_attention_matches_manual(qk_norm, across):
    attn = randomise(MultiheadSelfAttention(
        32, 4, qk_norm=qk_norm, qk_norm_across_heads=across)).eval()
    x = torch.randn(2, 7, 32, dtype=torch.float64)
    q, k, v = attn.qkv(x).view(2, 7, 3, 4, 8).unbind(2)  # [B, N, h, d]
    if qk_norm is not None:
        shape = q.shape
        if across:
            q = attn.q_norm(q.reshape(2, 7, 32)).view(shape)
            k = attn.k_norm(k.reshape(2, 7, 32)).view(shape)
        else:
            q, k = attn.q_norm(q), attn.k_norm(k)
    out = softmax_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    expected = attn.proj(out.transpose(1, 2).reshape(2, 7, 32))
    assert_close(attn(x), expected)


def test_qk_norm_weight_shapes():
    assert MultiheadSelfAttention(32, 4, qk_norm='rmsnorm').q_norm.weight \
        .shape == (8, )
    across = MultiheadSelfAttention(32, 4, qk_norm='rmsnorm',
                                    qk_norm_across_heads=True)
    assert isinstance(across.k_norm, nn.RMSNorm)
    assert across.k_norm.weight.shape == (32, )
    assert not hasattr(MultiheadSelfAttention(32, 4), 'q_norm')
    assert MultiheadSelfAttention(32, 4, qkv_bias=False).qkv.bias is None


def test_self_attention_mask():
    # float64: 5 masked and 3 plain tokens run different kernels.
    attn = MultiheadSelfAttention(32, 4).double().eval()
    x = torch.randn(1, 5, 32, dtype=torch.float64)
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[:, 3:] = False  # nobody attends to tokens 3, 4
    out = attn(x, attn_mask=mask)
    assert_close(out[:, :3], attn(x[:, :3]))


def test_cross_attention_matches_manual():
    attn = randomise(CrossAttention(32, 4, kv_dims=16, out_dims=12)).eval()
    query = torch.randn(2, 3, 32, dtype=torch.float64)
    kv = torch.randn(2, 9, 16, dtype=torch.float64)
    q = attn.q(query).view(2, 3, 4, 8).transpose(1, 2)
    k = attn.k(kv).view(2, 9, 4, 8).transpose(1, 2)
    v = attn.v(kv).view(2, 9, 4, 8).transpose(1, 2)
    expected = attn.proj(
        softmax_attention(q, k, v).transpose(1, 2).reshape(2, 3, 32))
    out = attn(query, kv, kv)
    assert out.shape == (2, 3, 12)
    assert_close(out, expected)


def test_attention_pooling_mean_query():
    pool = randomise(AttentionPoolingBlock(32, 4, out_dims=16)).eval()
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    q = pool.norm1_q(x.mean(1, keepdim=True))
    expected = pool.cross_attn(q, pool.norm1_k(x), pool.norm1_v(x))
    out = pool(x)
    assert out.shape == (2, 1, 16)
    assert_close(out, expected)
    # Pooling is invariant to the token order.
    assert_close(pool(x.flip(1)), out)


def test_attention_pooling_learnable_query():
    pool = AttentionPoolingBlock(32, 4, query='learnable', num_queries=3)
    assert pool.query.shape == (1, 3, 32)
    assert pool(torch.randn(2, 9, 32)).shape == (2, 3, 32)
    with pytest.raises(ValueError, match='num_queries'):
        AttentionPoolingBlock(32, 4, query='mean', num_queries=2)
    with pytest.raises(ValueError, match='query must be'):
        AttentionPoolingBlock(32, 4, query='cls')
    with pytest.raises(ValueError, match='divisible'):
        AttentionPoolingBlock(30, 4)
    with pytest.raises(TypeError):
        AttentionPoolingBlock(32, 4, out_dim=8)  # typo is not swallowed


def test_build_norm():
    ln = build_norm(dict(type='LN', eps=1e-5), 8)
    assert isinstance(ln, nn.LayerNorm) and ln.eps == 1e-5
    rms = build_norm('rmsnorm', 8)
    assert isinstance(rms, nn.RMSNorm) and rms.eps == 1e-6
    assert isinstance(build_norm(None, 8), nn.Identity)
    cfg = dict(type='RMSNorm', eps=1e-3)
    build_norm(cfg, 8)
    assert cfg == dict(type='RMSNorm', eps=1e-3)  # caller's dict untouched
    with pytest.raises(ValueError, match='Unknown norm type'):
        build_norm(dict(type='BN'), 8)
    with pytest.raises(ValueError, match='Unknown norm name'):
        build_norm('groupnorm', 8)


def test_transformer_layer_structure_and_forward():
    layer = randomise(TransformerEncoderLayer(
        32, 4, 48, layer_scale_init_value=1e-5,
        norm_cfg=dict(type='RMSNorm', eps=1e-6))).eval()
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    y = x + layer.ls1(layer.attn(layer.norm1(x)))
    y = y + layer.ls2.gamma * layer.mlp.fc2(
        nn.functional.gelu(layer.mlp.fc1(layer.norm2(y))))
    assert_close(layer(x), y)
    assert isinstance(TransformerEncoderLayer(32, 4, 48).ls1, nn.Identity)
    assert TransformerEncoderLayer(
        32, 4, 48, layer_scale_init_value=0.1).ls2.gamma[0].item() == \
        pytest.approx(0.1)


def test_patchify_roundtrip_and_order():
    x = torch.randn(2, 3, 4, 6, 8)
    patches = patchify_3d(x, 2, 2)
    assert patches.shape == (2, 2 * 3 * 4, 2 * 2 * 2 * 3)
    assert torch.equal(unpatchify_3d(patches, (2, 3, 4), 2, 2), x)
    # Patch n = (t, h, w) = (1, 2, 3); pixel (dt, dy, dx, c) = (1, 0, 1, 2).
    n = (1 * 3 + 2) * 4 + 3
    k = ((1 * 2 + 0) * 2 + 1) * 3 + 2
    assert patches[1, n, k] == x[1, 2, 1 * 2 + 1, 2 * 2 + 0, 3 * 2 + 1]


def test_patch_embed_linear_path_equals_conv():
    """With the pixel norm replaced by the identity, the linear path on
    patchified pixels equals the plain Conv3d path."""
    conv = PatchEmbed3D(3, 32, patch_size=4, tubelet_size=2)
    normed = PatchEmbed3D(3, 32, patch_size=4, tubelet_size=2,
                          pixel_norm_cfg='rmsnorm')
    normed.proj.load_state_dict(conv.proj.state_dict())
    conv, normed = conv.double(), normed.double()  # GEMM vs conv kernels
    x = torch.randn(2, 3, 4, 8, 12, dtype=torch.float64)
    out = conv(x)
    assert out.shape == (2, 2 * 2 * 3, 32)
    normed.pixel_norm = nn.Identity()
    assert_close(normed(x), out)


def test_patch_embed_pixel_norm():
    embed = randomise(PatchEmbed3D(3, 32, patch_size=4, tubelet_size=2,
                                   pixel_norm_cfg='rmsnorm',
                                   norm_cfg='rmsnorm'))
    assert embed.pixel_norm.weight.shape == (2 * 4 * 4 * 3, )
    x = torch.randn(2, 3, 4, 8, 12, dtype=torch.float64)
    patches = patchify_3d(x, 4, 2)
    patches = patches * torch.rsqrt(patches.pow(2).mean(-1, keepdim=True) +
                                    1e-6) * embed.pixel_norm.weight
    conv = nn.functional.conv3d(unpatchify_3d(patches, (2, 2, 3), 4, 2),
                                embed.proj.weight, embed.proj.bias, stride=(
                                    2, 4, 4))
    assert_close(embed(x), embed.norm(conv.flatten(2).transpose(1, 2)))
