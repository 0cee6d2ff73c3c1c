"""VisionTransformer3D: tiny models only (width 64, 2 blocks, 4 frames, 28/56 px)."""
import copy
import os

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (must precede mmaction.models)
from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.backbones import vision_transformer3d as vit3d_module
from mmivnext.models.utils import pos_embed as pos_embed_module
from mmivnext.models.utils import (get_3d_sincos_pos_embed, patchify_3d,
                                   resize_pos_embed_3d)

TINY = dict(embed_dims=64, num_layers=2, num_heads=4, mlp_ratio=2)


def build(**kwargs):
    cfg = dict(arch=TINY, img_size=28, num_frames=4)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = VisionTransformer3D(**cfg)
    model.init_weights()
    return model.eval()


def video(batch=2, frames=4, size=28, seed=1):
    return torch.randn(batch, 3, frames, size, size,
                       generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- arch / config
@pytest.mark.parametrize('name,dims,layers,heads,ffn', [
    ('base', 768, 12, 12, 3072), ('b', 768, 12, 12, 3072),
    ('large', 1024, 24, 16, 4096), ('1b', 1408, 40, 16, 6144),
    ('1B', 1408, 40, 16, 6144)])
def test_arch_zoo(name, dims, layers, heads, ffn):
    # Built on the meta device: no memory, no init cost.
    with torch.device('meta'):
        model = VisionTransformer3D(arch=name, img_size=28, num_frames=1)
    assert (model.embed_dims, model.num_layers, model.num_heads,
            model.feedforward_channels) == (dims, layers, heads, ffn)
    assert len(model.blocks) == layers
    assert model.blocks[0].mlp.fc1.out_features == ffn
    per_block = sum(p.numel() for p in model.blocks[0].parameters())
    # qkv + proj (with biases), MLP (with biases), two LayerNorms.
    assert per_block == 4 * dims * dims + 4 * dims + 2 * dims * ffn + ffn + \
        dims + 4 * dims


def test_1b_mlp_ratio_gives_6144():
    with torch.device('meta'):
        model = VisionTransformer3D(
            arch=dict(embed_dims=1408, num_layers=1, num_heads=16,
                      mlp_ratio=48 / 11), img_size=28, num_frames=1)
    assert model.feedforward_channels == 6144


def test_custom_arch():
    model = build(arch=dict(embed_dims=64, num_layers=3, num_heads=2,
                            feedforward_channels=96))
    assert len(model.blocks) == 3 and model.blocks[0].attn.num_heads == 2
    assert model.blocks[0].mlp.fc1.out_features == 96


@pytest.mark.parametrize('arch,match', [
    ('huge', "Unknown arch 'huge'"),
    (dict(embed_dims=64, num_layers=2, mlp_ratio=4), r"missing \['num_heads'\]"),
    (dict(embed_dims=64, num_layers=2, num_heads=4), r'MLP keys given \[\]'),
    (dict(embed_dims=64, num_layers=2, num_heads=4, mlp_ratio=4,
          feedforward_channels=256), 'exactly one'),
    (dict(embed_dims=64, num_layers=2, num_heads=4, mlp_ratio=4, depth=2),
     r"unknown keys \['depth'\]"),
])
def test_bad_arch(arch, match):
    with pytest.raises(ValueError, match=match):
        VisionTransformer3D(arch=arch, img_size=28, num_frames=4)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(out_type='tokens'), ValueError, 'out_type must be'),
    (dict(out_type='cls_token', num_cls_tokens=0), ValueError, 'num_cls'),
    (dict(out_type='projected'), ValueError, 'projector_cfg'),
    (dict(img_size=30), ValueError, 'multiple of patch_size'),
    (dict(num_frames=3, tubelet_size=2), ValueError, 'tubelet_size'),
    (dict(out_indices=2), ValueError, 'out_indices'),
    (dict(out_indices=(-3, )), ValueError, 'out_indices'),
    (dict(out_indices=(0, -2)), ValueError, 'distinct'),
    (dict(frozen_stages=3), ValueError, 'frozen_stages'),
    (dict(arch=dict(embed_dims=64, num_layers=1, num_heads=5, mlp_ratio=1)),
     ValueError, 'divisible by num_heads'),
    (dict(arch=dict(embed_dims=72, num_layers=1, num_heads=4, mlp_ratio=1)),
     ValueError, 'divisible by 16'),
    (dict(pos_embed_lernable=False), TypeError, 'pos_embed_lernable'),
])
def test_bad_config(kwargs, error, match):
    cfg = dict(arch=TINY, img_size=28, num_frames=4)
    cfg.update(kwargs)
    with pytest.raises(error, match=match):
        VisionTransformer3D(**cfg)


def test_drop_path_rates_increase_linearly():
    model = build(arch=dict(TINY, num_layers=3), drop_path_rate=0.2)
    rates = [b.drop_path1.drop_prob for b in model.blocks]
    assert rates == pytest.approx([0., 0.1, 0.2])


# ---------------------------------------------------------------- outputs
@pytest.mark.parametrize('out_type,shape', [
    ('raw', (2, 4 + 16, 64)), ('cls_token', (2, 64)), ('avg_featmap', (2, 64)),
    ('featmap', (2, 64, 4, 2, 2)), ('projected', (2, 32))])
def test_output_shapes(out_type, shape):
    model = build(out_type=out_type,
                  projector_cfg=dict(num_heads=4, out_dims=32))
    out = model(video())
    assert isinstance(out, torch.Tensor) and out.shape == shape


def test_output_forms_agree():
    x = video()
    raw = build()(x)  # [B, 4 + 16, C]
    assert_close(build(out_type='cls_token')(x), raw[:, :4].mean(1))
    assert_close(build(out_type='avg_featmap')(x), raw[:, 4:].mean(1))
    featmap = build(out_type='featmap')(x)  # [B, C, T', H', W']
    # Token n = (t * H' + h) * W' + w.
    assert_close(featmap[:, :, 2, 1, 0], raw[:, 4 + (2 * 2 + 1) * 2 + 0])
    # Same construction (and so the same weights) with and without pooling.
    raw = build(projector_cfg=dict(num_heads=4))(x)
    model = build(out_type='projected', projector_cfg=dict(num_heads=4))
    assert_close(model(x), model.projector(raw)[:, 0])


def test_multiple_out_indices():
    model = build(arch=dict(TINY, num_layers=6),
                  out_indices=(-6, -5, -4, -3, -2, -1))
    outs = model(video())
    assert isinstance(outs, tuple) and len(outs) == 6
    assert all(o.shape == (2, 20, 64) for o in outs)
    assert_close(outs[-1], build(arch=dict(TINY, num_layers=6))(video()))
    # Outputs come in the requested order.
    picked = build(arch=dict(TINY, num_layers=6),
                   out_indices=(2, 5, 0))(video())
    assert [o.shape for o in picked] == [(2, 20, 64)] * 3
    assert_close(picked[0], outs[2])
    assert_close(picked[1], outs[5])
    assert_close(picked[2], outs[0])
    # A one-element sequence still gives a tuple.
    assert isinstance(build(out_indices=[-1])(video()), tuple)


def test_final_norm_only_on_last_layer():
    x = video()
    with_norm = build(out_indices=(0, 1))
    without = build(out_indices=(0, 1), final_norm=False)
    assert without.norm is None
    a, b = with_norm(x), without(x)
    assert_close(a[0], b[0])  # layer 0: never normalised
    assert_close(a[1], with_norm.norm(b[1]))


def test_no_cls_tokens():
    model = build(num_cls_tokens=0)
    assert model.cls_token is None and model.pos_embed.shape == (1, 16, 64)
    assert model(video()).shape == (2, 16, 64)


def test_tubelet_and_non_square():
    model = build(tubelet_size=2, img_size=(28, 42), out_type='featmap')
    assert model.grid_size == (2, 2, 3)
    assert model(torch.randn(1, 3, 4, 28, 42)).shape == (1, 64, 2, 2, 3)


def test_bad_inputs():
    model = build()
    with pytest.raises(ValueError, match=r'\[B, 3, T, H, W\]'):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r'\[B, 3, T, H, W\]'):
        model(torch.randn(2, 1, 4, 28, 28))
    with pytest.raises(ValueError, match='does not split'):
        model(torch.randn(2, 3, 4, 30, 28))
    with pytest.raises(TypeError, match='floating point'):
        model(torch.zeros(2, 3, 4, 28, 28, dtype=torch.uint8))


def test_other_input_size_resizes_pos_embed():
    """A 4-frame model on a 2-frame 56 px input equals a 2-frame 56 px model
    that loaded its weights (the pre-hook resizes the same way)."""
    src = build()
    dst = build(num_frames=2, img_size=56)
    dst.load_state_dict(src.state_dict())
    x = video(frames=2, size=56)
    assert_close(src(x), dst(x))


# ---------------------------------------------------------------- visible tokens
def test_visible_identity_equals_full():
    model = build()
    x = video()
    idx = torch.arange(16).expand(2, -1)
    assert_close(model(x, visible_indices=idx), model(x))


def test_visible_permutation_permutes_outputs():
    # float64: attention sums the permuted tokens in another order.
    model = build().double()
    x = video().double()
    full = model(x)
    perm = torch.stack([torch.randperm(16), torch.randperm(16)])
    out = model(x, visible_indices=perm)
    assert_close(out[:, :4], full[:, :4])  # cls tokens unchanged
    expected = torch.stack([full[b, 4 + perm[b]] for b in range(2)])
    assert_close(out[:, 4:], expected)


def test_visible_subset_matches_manual_reference():
    model = build()
    with torch.no_grad():  # cls rows are zero at init: make them count
        model.pos_embed.add_(torch.randn_like(model.pos_embed))
    x = video()
    idx = torch.tensor([[0, 5, 7, 15], [3, 2, 9, 11]])
    out = model(x, visible_indices=idx)
    # Reference: embed, add position, gather, prepend cls, run the blocks.
    tokens = model.patch_embed(x) + model.pos_embed[:, 4:]
    tokens = torch.stack([tokens[b, idx[b]] for b in range(2)])
    cls = (model.cls_token + model.pos_embed[:, :4]).expand(2, -1, -1)
    ref = torch.cat([cls, tokens], 1)
    for block in model.blocks:
        ref = block(ref)
    assert out.shape == (2, 4 + 4, 64)
    assert_close(out, model.norm(ref))
    # Masked tokens do not influence the result: frame 1 holds tokens 4..7,
    # visible in sample 0 (5, 7) but not in sample 1.
    x2 = x.clone()
    x2[:, :, 1] += 100.
    out2 = model(x2, visible_indices=idx)
    assert_close(out2[1], out[1])
    assert not torch.allclose(out2[0], out[0])


def test_visible_int32_and_pooled_outputs():
    model = build(out_type='avg_featmap')
    x = video()
    idx = torch.tensor([[1, 2], [3, 4]])
    assert_close(model(x, visible_indices=idx.int()),
                 model(x, visible_indices=idx))


@pytest.mark.parametrize('indices,error,match', [
    (torch.ones(2, 16, dtype=torch.bool), TypeError, 'nonzero'),
    (torch.zeros(2, 3), TypeError, 'integer'),
    ([[0, 1], [2, 3]], TypeError, 'integer'),
    (torch.zeros(3, dtype=torch.long), ValueError, r'\[B=2, K>=1\]'),
    (torch.zeros(1, 3, dtype=torch.long), ValueError, r'\[B=2, K>=1\]'),
    (torch.zeros(2, 0, dtype=torch.long), ValueError, r'\[B=2, K>=1\]'),
    (torch.tensor([[0, 16], [1, 2]]), ValueError, r'\[0, 16\)'),
    (torch.tensor([[0, -1], [1, 2]]), ValueError, r'\[0, 16\)'),
])
def test_visible_indices_validation(indices, error, match):
    with pytest.raises(error, match=match):
        build()(video(), visible_indices=indices)


def test_featmap_rejects_visible_indices():
    with pytest.raises(ValueError, match='featmap'):
        build(out_type='featmap')(video(),
                                  visible_indices=torch.zeros(2, 3).long())


# ---------------------------------------------------------------- position embedding
def test_pos_embed_init_and_fixed_buffer():
    model = build()
    expected = get_3d_sincos_pos_embed(64, (4, 2, 2), 4)[None]
    assert isinstance(model.pos_embed, nn.Parameter)
    assert_close(model.pos_embed.data, expected)
    assert model.pos_embed_grid.tolist() == [4, 2, 2]
    fixed = build(pos_embed_learnable=False)
    assert 'pos_embed' not in dict(fixed.named_parameters())
    assert 'pos_embed' in fixed.state_dict()
    assert_close(fixed.pos_embed, expected)


@pytest.mark.parametrize('src_kwargs,dst_kwargs', [
    (dict(num_frames=4, img_size=56), dict(num_frames=2, img_size=28)),
    (dict(num_frames=2, img_size=28), dict(num_frames=4, img_size=56)),
])
def test_load_resizes_pos_embed(src_kwargs, dst_kwargs, monkeypatch):
    logs = []
    monkeypatch.setattr(pos_embed_module, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    src, dst = build(**src_kwargs), build(**dst_kwargs)
    with torch.no_grad():
        src.pos_embed.add_(torch.randn_like(src.pos_embed))
    state = src.state_dict()
    before = {k: v.clone() for k, v in state.items()}
    dst.load_state_dict(state, strict=True)
    assert_close(dst.pos_embed.data,
                 resize_pos_embed_3d(src.pos_embed.data, src.grid_size,
                                     dst.grid_size, 4))
    assert_close(dst.pos_embed.data[:, :4], src.pos_embed.data[:, :4])
    assert dst.pos_embed_grid.tolist() == list(dst.grid_size)
    assert_close(dst.blocks[1].mlp.fc2.weight, src.blocks[1].mlp.fc2.weight)
    assert len(logs) == 1 and str(src.grid_size) in logs[0] and \
        str(dst.grid_size) in logs[0]
    assert all(torch.equal(before[k], v) for k, v in state.items())


def test_load_same_grid_is_identity(monkeypatch):
    logs = []
    monkeypatch.setattr(pos_embed_module, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    src, dst = build(), build()
    with torch.no_grad():
        src.pos_embed.add_(1.)
    dst.load_state_dict(src.state_dict())
    assert torch.equal(dst.pos_embed, src.pos_embed)
    assert logs == []


def test_load_without_grid_entry_infers_it():
    src, dst = build(num_frames=8), build()
    state = src.state_dict()
    del state['pos_embed_grid']  # e.g. a converted checkpoint
    dst.load_state_dict(state, strict=True)
    assert_close(dst.pos_embed.data,
                 resize_pos_embed_3d(src.pos_embed.data, (8, 2, 2),
                                     (4, 2, 2), 4))


def test_load_ambiguous_grid_needs_grid_entry():
    # 4 frames of 4x4 = 64 tokens = 16 frames of 2x2, for a (4, 2, 2) model.
    src, dst = build(img_size=56), build()
    state = src.state_dict()
    dst.load_state_dict(state)  # with the grid entry: fine
    del state['pos_embed_grid']
    with pytest.raises(ValueError, match='several grids'):
        dst.load_state_dict(state)


def test_load_cls_count_mismatch():
    with pytest.raises(ValueError, match='cls'):
        build().load_state_dict(build(num_cls_tokens=2).state_dict(),
                                strict=False)


def test_load_fixed_and_learnable_interchange():
    learnable = build(num_frames=8)
    with torch.no_grad():
        learnable.pos_embed.add_(1.)
    fixed = build(pos_embed_learnable=False)
    fixed.load_state_dict(learnable.state_dict(), strict=True)
    assert_close(fixed.pos_embed,
                 resize_pos_embed_3d(learnable.pos_embed.data, (8, 2, 2),
                                     (4, 2, 2), 4))
    back = build(num_frames=8)
    back.load_state_dict(fixed.state_dict(), strict=True)
    assert back.pos_embed.shape == (1, 4 + 32, 64)


def test_load_through_parent_prefix_and_deepcopy():
    parent = nn.Module()
    parent.backbone = build()
    src = nn.Module()
    src.backbone = build(num_frames=2)
    with torch.no_grad():
        src.backbone.blocks[0].attn.qkv.weight.add_(1.)
    copied = copy.deepcopy(parent)
    copied.load_state_dict(src.state_dict(), strict=True)
    assert copied.backbone.pos_embed.shape == (1, 20, 64)
    assert_close(copied.backbone.blocks[0].attn.qkv.weight,
                 src.backbone.blocks[0].attn.qkv.weight)
    assert not torch.equal(parent.backbone.blocks[0].attn.qkv.weight,
                           src.backbone.blocks[0].attn.qkv.weight)


# ---------------------------------------------------------------- init
def test_default_init_at_construction():
    torch.manual_seed(0)
    model = VisionTransformer3D(arch=TINY, img_size=28, num_frames=4,
                                layer_scale_init_value=1e-5,
                                rescale_residual_init=True)
    assert_close(model.pos_embed.data,
                 get_3d_sincos_pos_embed(64, (4, 2, 2), 4)[None])
    assert torch.all(model.blocks[0].ls1.gamma == 1e-5)
    assert torch.all(model.blocks[1].attn.qkv.bias == 0)
    qkv_std = model.blocks[1].attn.qkv.weight.std().item()
    assert 0.015 < qkv_std < 0.025
    # Residual rescaling: block i's proj is divided by sqrt(2 (i + 1)).
    fc2_std = model.blocks[1].mlp.fc2.weight.std().item()
    assert 0.015 / 2 < fc2_std < 0.025 / 2


def test_init_weights_never_overwrites_loaded_weights():
    src = build()
    model = VisionTransformer3D(arch=TINY, img_size=28, num_frames=4)
    model.load_state_dict(src.state_dict())
    model.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_pretrained_init_cfg(tmp_path):
    src = build(num_frames=2)
    path = str(tmp_path / 'encoder.pth')
    torch.save(dict(state_dict=src.state_dict()), path)
    model = VisionTransformer3D(
        arch=TINY, img_size=28, num_frames=4,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert_close(model.blocks[1].attn.proj.weight,
                 src.blocks[1].attn.proj.weight)
    assert_close(model.pos_embed.data,
                 resize_pos_embed_3d(src.pos_embed.data, (2, 2, 2),
                                     (4, 2, 2), 4))


# ---------------------------------------------------------------- training aids
def test_with_cp_same_output_and_grads(monkeypatch):
    x = video()
    plain = build(drop_path_rate=0.1).train()
    cp = build(drop_path_rate=0.1, with_cp=True).train()
    calls = []
    real = vit3d_module.checkpoint
    monkeypatch.setattr(vit3d_module, 'checkpoint',
                        lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    torch.manual_seed(3)
    out_plain = plain(x)
    torch.manual_seed(3)
    out_cp = cp(x)
    assert calls == [dict(use_reentrant=False)] * 2
    assert_close(out_cp, out_plain)
    out_plain.square().mean().backward()
    out_cp.square().mean().backward()
    for (name, p1), p2 in zip(plain.named_parameters(), cp.parameters()):
        assert_close(p2.grad, p1.grad, msg=name)
    calls.clear()
    with torch.no_grad():
        cp(x)
    cp.eval()(x)
    assert calls == []


def test_get_layer_depth():
    model = build()
    assert model.get_layer_depth('cls_token') == (0, 4)
    assert model.get_layer_depth('pos_embed') == (0, 4)
    assert model.get_layer_depth('patch_embed.proj.weight') == (0, 4)
    assert model.get_layer_depth('blocks.0.attn.qkv.weight') == (1, 4)
    assert model.get_layer_depth('backbone.blocks.1.ls1.gamma',
                                 'backbone.') == (2, 4)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (3, 4)
    assert model.get_layer_depth('cls_head.fc_cls.weight', 'backbone.') == \
        (3, 4)
    depths = {n: model.get_layer_depth(n)[0]
              for n, _ in model.named_parameters()}
    assert max(depths.values()) == 3 and min(depths.values()) == 0


def test_frozen_stages():
    model = build(frozen_stages=1, drop_rate=0.1)
    model.train()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert 'cls_token' in frozen and 'pos_embed' in frozen
    assert all(n in frozen for n, _ in model.patch_embed.named_parameters(
        prefix='patch_embed'))
    assert all(n.startswith(('cls_token', 'pos_embed', 'patch_embed',
                             'blocks.0.')) for n in frozen)
    assert all(p.requires_grad for p in model.blocks[1].parameters())
    assert model.norm.weight.requires_grad
    assert not model.blocks[0].training and not model.patch_embed.training
    assert not model.drop_after_pos.training
    assert model.blocks[1].training and model.training


def test_frozen_all_stages_freezes_everything():
    model = build(frozen_stages=2, projector_cfg=dict(num_heads=4))
    model.train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in model.modules()
                   if not isinstance(m, (VisionTransformer3D, nn.ModuleList)))
    x = video()
    assert_close(model(x), model.eval()(x))


# ---------------------------------------------------------------- released encoder
def test_released_preset_layout():
    model = VisionTransformer3D.released(arch=TINY, img_size=28, num_frames=4,
                                         out_type='projected')
    model.init_weights()
    model.eval()
    keys = set(model.state_dict())
    block = {k[len('blocks.0.'):] for k in keys if k.startswith('blocks.0.')}
    assert block == {
        'norm1.weight', 'attn.qkv.weight', 'attn.q_norm.weight',
        'attn.k_norm.weight', 'attn.proj.weight', 'attn.proj.bias',
        'norm2.weight', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight',
        'mlp.fc2.bias', 'ls1.gamma', 'ls2.gamma'}
    assert {k for k in keys if not k.startswith(('blocks.', 'projector.'))} \
        == {'cls_token', 'pos_embed', 'pos_embed_grid',
            'patch_embed.pixel_norm.weight', 'patch_embed.proj.weight',
            'patch_embed.proj.bias', 'patch_embed.norm.weight'}
    assert model.patch_embed.pixel_norm.weight.shape == (14 * 14 * 3, )
    assert isinstance(model.blocks[0].norm1, nn.RMSNorm)
    assert model.blocks[0].attn.q_norm.weight.shape == (64, )  # across heads
    assert torch.all(model.blocks[1].ls2.gamma == 1e-5)
    assert model.norm is None and model.num_cls_tokens == 4
    assert model.projector.cross_attn.proj.out_features == 768
    assert model.projector.cross_attn.num_heads == 16
    assert isinstance(model.projector.norm1_k, nn.LayerNorm)
    assert model.projector.norm1_k.eps == 1e-5
    out = model(video())
    assert out.shape == (2, 768) and torch.isfinite(out).all()
    idx = torch.tensor([[0, 3, 9], [1, 2, 15]])
    assert model(video(), visible_indices=idx).shape == (2, 768)


def test_released_preset_forward_matches_reference():
    """The released block computation, written out: RMSNorm pre-norm, QK
    RMSNorm over all heads, LayerScale, no final norm."""
    model = VisionTransformer3D.released(arch=TINY, img_size=28, num_frames=4)
    model.init_weights()
    # float64: the encoder's kernels (conv3d, SDPA) and the written-out ops
    # round differently in fp32.
    model.double().eval()
    with torch.no_grad():
        for p in model.parameters():  # norm weights, LayerScale, cls rows
            p.add_(torch.randn_like(p) * 0.05)
    x = video().double()

    def rms(t, weight):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * weight

    patches = rms(patchify_3d(x, 14, 1), model.patch_embed.pixel_norm.weight)
    conv_w = model.patch_embed.proj.weight.permute(0, 2, 3, 4, 1).flatten(1)
    tokens = rms(patches @ conv_w.t() + model.patch_embed.proj.bias,
                 model.patch_embed.norm.weight)
    h = torch.cat([model.cls_token.expand(2, -1, -1), tokens], 1) + \
        model.pos_embed
    for blk in model.blocks:
        a = blk.attn
        q, k, v = a.qkv(rms(h, blk.norm1.weight)).chunk(3, -1)  # [B, N, C]
        q, k = rms(q, a.q_norm.weight), rms(k, a.k_norm.weight)
        q, k, v = (t.view(2, 20, 4, 16).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / 4).softmax(-1) @ v
        h = h + blk.ls1.gamma * a.proj(att.transpose(1, 2).reshape(2, 20, 64))
        m = blk.mlp
        h = h + blk.ls2.gamma * m.fc2(
            nn.functional.gelu(m.fc1(rms(h, blk.norm2.weight))))
    assert_close(model(x), h)


# ---------------------------------------------------------------- mmaction2
def test_mmaction2_recognizer_train_and_predict():
    from mmaction.registry import MODELS as MMACTION_MODELS
    from mmaction.structures import ActionDataSample
    from mmengine.optim import OptimWrapper
    from mmengine.registry import DefaultScope

    cfg = dict(
        type='mmaction.Recognizer3D',
        backbone=dict(type='mmivnext.VisionTransformer3D', arch=TINY,
                      img_size=28, num_frames=4, out_type='featmap'),
        cls_head=dict(type='mmaction.I3DHead', num_classes=3, in_channels=64),
        data_preprocessor=dict(type='mmaction.ActionDataPreprocessor',
                               mean=[114.75, 114.75, 114.75],
                               std=[57.375, 57.375, 57.375],
                               format_shape='NCTHW'))
    # As in an mmaction2 config (default_scope='mmaction').
    with DefaultScope.overwrite_default_scope('mmaction'):
        recognizer = MMACTION_MODELS.build(cfg)
    assert isinstance(recognizer.backbone, VisionTransformer3D)
    recognizer.init_weights()
    g = torch.Generator().manual_seed(0)

    def batch():
        samples = []
        for label in (0, 2):
            sample = ActionDataSample()
            sample.set_gt_label(label)
            samples.append(sample)
        inputs = [torch.randint(0, 256, (1, 3, 4, 28, 28), generator=g,
                                dtype=torch.uint8) for _ in range(2)]
        return dict(inputs=inputs, data_samples=samples)

    optim = OptimWrapper(torch.optim.SGD(recognizer.parameters(), lr=0.1))
    before = {n: p.detach().clone()
              for n, p in recognizer.named_parameters()}
    recognizer.train()
    losses = recognizer.train_step(batch(), optim)
    assert torch.isfinite(losses['loss_cls'])
    changed = [n for n, p in recognizer.named_parameters()
               if not torch.equal(before[n], p)]
    assert any(n.startswith('backbone.blocks.') for n in changed)
    assert any(n.startswith('cls_head.') for n in changed)

    recognizer.eval()
    with torch.no_grad():
        preds = recognizer.test_step(batch())
    assert len(preds) == 2
    # mmaction2 1.2.0 keeps one score row per sample: [1, num_classes].
    assert all(p.pred_score.shape[-1] == 3 and p.pred_score.numel() == 3
               for p in preds)


def test_pretrained_init_cfg_loads_strictly(tmp_path):
    src = build()
    path = str(tmp_path / 'encoder.pth')
    torch.save(dict(state_dict=src.state_dict()), path)
    dst = VisionTransformer3D(
        arch=TINY, img_size=28, num_frames=4,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    dst.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key
    # Another layout (here: no qkv bias) is refused, naming the keys and
    # the file, instead of being loaded in part.
    other = VisionTransformer3D(
        arch=TINY, img_size=28, num_frames=4, qkv_bias=False,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(RuntimeError, match=r'(?s)encoder\.pth.*qkv\.bias'):
        other.init_weights()


def test_pretrained_init_cfg_with_prefix_reads_a_runner_checkpoint(tmp_path):
    src = build(num_frames=2)
    path = str(tmp_path / 'stage1.pth')
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['predictor.mask_token'] = torch.zeros(1, 1, 64)
    torch.save(dict(state_dict=state), path)
    dst = VisionTransformer3D(
        arch=TINY, img_size=28, num_frames=4,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    dst.init_weights()  # 2 -> 4 frames: pos_embed resized, nothing missing
    assert torch.equal(dst.blocks[0].attn.qkv.weight,
                       src.blocks[0].attn.qkv.weight)
    assert dst.pos_embed.shape[1] == src.pos_embed.shape[1] + 2 * 4


# ------------------------------------------- structure vs exported JSON ----
def test_structural_args_normalise_equal_spellings():
    short = dict(arch='large', qk_norm='rmsnorm', norm_cfg=None,
                 projector_cfg=dict(num_heads=16, out_dims=768))
    long = dict(
        arch=dict(embed_dims=1024, num_layers=24, num_heads=16,
                  feedforward_channels=4096),
        qk_norm=dict(type='RMSNorm', eps=1e-6),
        norm_cfg=dict(type='LayerNorm', eps=1e-6, elementwise_affine=True),
        projector_cfg=dict(num_heads=16, out_dims=768, qkv_bias=True,
                           norm_cfg=None, query='mean', num_queries=1),
        # sizes, training and output options do not count
        num_frames=32, img_size=448, drop_path_rate=0.3, with_cp=True,
        frozen_stages=24, out_type='featmap', out_indices=[3, 23],
        init_cfg=dict(type='Pretrained', checkpoint='x.safetensors'))
    args = VisionTransformer3D.structural_args
    assert args(short) == args(long)
    assert args(short)['qk_norm'] == dict(
        type='RMSNorm', eps=1e-6, elementwise_affine=True)


@pytest.mark.parametrize('change', [
    dict(arch=dict(embed_dims=1024, num_layers=24, num_heads=8,
                   feedforward_channels=4096)),
    dict(qk_norm_across_heads=True),
    dict(norm_cfg=dict(type='LN', eps=1e-5)),
    dict(pos_embed_type='rope_3d', num_cls_tokens=0),
    dict(projector_cfg=dict(num_heads=8, out_dims=768)),
])
def test_structural_args_see_what_shapes_do_not(change):
    base = dict(arch='large', qk_norm='rmsnorm',
                projector_cfg=dict(num_heads=16, out_dims=768))
    args = VisionTransformer3D.structural_args
    assert args(base) != args({**base, **change})


def test_structural_args_refuse_unknown_arguments():
    with pytest.raises(ValueError, match='num_head'):
        VisionTransformer3D.structural_args(dict(num_head=4))


def _export(tmp_path, **kwargs):
    from mmivnext.utils.encoder_export import (encoder_architecture,
                                               write_exported_encoder)
    cfg = dict(arch=TINY, img_size=28, num_frames=4, **kwargs)
    encoder = VisionTransformer3D(**cfg)
    encoder.init_weights()
    out = str(tmp_path / 'enc.safetensors')
    write_exported_encoder(encoder.state_dict(), encoder_architecture(cfg),
                           out)
    return out, encoder


def test_exported_json_is_checked_when_loading(tmp_path):
    path, source = _export(tmp_path, qk_norm='rmsnorm')
    # Another clip size: fine (the position embedding is resized).
    same = VisionTransformer3D(arch=TINY, img_size=56, num_frames=8,
                               qk_norm=dict(type='RMSNorm', eps=1e-6),
                               init_cfg=dict(type='Pretrained',
                                             checkpoint=path))
    same.init_weights()
    assert_close(same.blocks[0].attn.qkv.weight,
                 source.blocks[0].attn.qkv.weight)
    # Same shapes, other computation (2 heads, not 4): refused, naming it.
    other = VisionTransformer3D(arch=dict(TINY, num_heads=2), img_size=28,
                                num_frames=4, qk_norm='rmsnorm',
                                init_cfg=dict(type='Pretrained',
                                              checkpoint=path))
    assert other.state_dict().keys() == source.state_dict().keys()
    with pytest.raises(ValueError, match=r'enc\.json.*num_heads: 4 .*vs 2'):
        other.init_weights()


def test_weights_without_json_load_as_before(tmp_path):
    path, source = _export(tmp_path)
    os.remove(path[:-len('.safetensors')] + '.json')
    encoder = VisionTransformer3D(arch=dict(TINY, num_heads=2), img_size=28,
                                  num_frames=4,
                                  init_cfg=dict(type='Pretrained',
                                                checkpoint=path))
    encoder.init_weights()  # nothing to compare with: strict load only
    assert_close(encoder.patch_embed.proj.weight,
                 source.patch_embed.proj.weight)
