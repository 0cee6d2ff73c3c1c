"""tools/model_converters/videomae_v2_to_mmivnext.py.

A tiny fake VideoMAE v2 ViT (width 64, depth 2, 4 heads, 4 frames of 32 px,
tubelet 2, patch 16: a (2, 2, 2) token grid) in the exact key layout of
``OpenGVLab/VideoMAEv2`` ``models/modeling_finetune.py``, converted, loaded
strictly, and compared with a plain-torch re-implementation of VideoMAE v2's
forward (sinusoid table, q/v-only qkv bias, pre-norm blocks, mean pooling and
``fc_norm``). Forwards run in float64: the encoder's kernels (conv3d, SDPA)
and the written-out ops round differently in fp32.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.utils.pos_embed import get_1d_sinusoid_table
from script_helpers import load_converter

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'model_converters',
                  'videomae_v2_to_mmivnext.py')
WIDTH, DEPTH, HEADS, HIDDEN = 64, 2, 4, 256
FRAMES, SIZE, TUBELET, PATCH = 4, 32, 2, 16


tool = load_converter('videomae_v2_to_mmivnext')


def fake_videomae_v2(layer_scale=False, mean_pooling=True, num_classes=10):
    """A random state dict in VideoMAE v2's fine-tuned ``VisionTransformer``
    layout."""
    g = torch.Generator().manual_seed(0)

    def rand(*shape, scale=0.05):
        return torch.randn(*shape, generator=g) * scale

    sd = {
        'patch_embed.proj.weight': rand(WIDTH, 3, TUBELET, PATCH, PATCH),
        'patch_embed.proj.bias': rand(WIDTH),
    }
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        sd.update({
            p + 'norm1.weight': 1 + rand(WIDTH), p + 'norm1.bias': rand(WIDTH),
            p + 'attn.q_bias': rand(WIDTH), p + 'attn.v_bias': rand(WIDTH),
            p + 'attn.qkv.weight': rand(3 * WIDTH, WIDTH, scale=0.2),
            p + 'attn.proj.weight': rand(WIDTH, WIDTH, scale=0.2),
            p + 'attn.proj.bias': rand(WIDTH),
            p + 'norm2.weight': 1 + rand(WIDTH), p + 'norm2.bias': rand(WIDTH),
            p + 'mlp.fc1.weight': rand(HIDDEN, WIDTH, scale=0.2),
            p + 'mlp.fc1.bias': rand(HIDDEN),
            p + 'mlp.fc2.weight': rand(WIDTH, HIDDEN, scale=0.2),
            p + 'mlp.fc2.bias': rand(WIDTH),
        })
        if layer_scale:
            sd[p + 'gamma_1'] = 0.5 + rand(WIDTH)
            sd[p + 'gamma_2'] = 0.5 + rand(WIDTH)
    norm = 'fc_norm' if mean_pooling else 'norm'
    sd[norm + '.weight'] = 1 + rand(WIDTH)
    sd[norm + '.bias'] = rand(WIDTH)
    if num_classes:
        sd['head.weight'] = rand(num_classes, WIDTH)
        sd['head.bias'] = rand(num_classes)
    return sd


def reference_table(num_positions, dims):
    """VideoMAE's ``get_sinusoid_encoding_table``: angle
    ``n / 10000 ** (2 (j // 2) / C)``, sin on even channels, cos on odd."""
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    j = torch.arange(dims, dtype=torch.float64)
    table = pos / torch.pow(10000., 2 * torch.div(j, 2, rounding_mode='floor')
                            / dims)
    table[:, 0::2] = table[:, 0::2].sin()
    table[:, 1::2] = table[:, 1::2].cos()
    return table.float()[None]  # [1, N, C]


def reference_forward(sd, video, num_heads=HEADS):
    """VideoMAE v2's ``forward_features``, written out with plain torch ops.

    Returns the tokens after ``norm`` (identity with mean pooling) and the
    pooled vector ``fc_norm(mean(tokens))`` (None without ``fc_norm``).
    """
    sd = {k: v.to(video.dtype) for k, v in sd.items()}
    weight = sd['patch_embed.proj.weight']
    t, p = weight.shape[2], weight.shape[3]
    x = F.conv3d(video, weight, sd['patch_embed.proj.bias'], stride=(t, p, p))
    x = x.flatten(2).transpose(1, 2)  # [B, N, C]
    B, N, C = x.shape
    x = x + reference_table(N, C)
    depth = len({k.split('.')[1] for k in sd if k.startswith('blocks.')})
    for i in range(depth):
        b = f'blocks.{i}.'
        h = F.layer_norm(x, (C, ), sd[b + 'norm1.weight'],
                         sd[b + 'norm1.bias'], eps=1e-6)
        qkv_bias = torch.cat([sd[b + 'attn.q_bias'],
                              torch.zeros_like(sd[b + 'attn.v_bias']),
                              sd[b + 'attn.v_bias']])
        qkv = F.linear(h, sd[b + 'attn.qkv.weight'], qkv_bias)
        qkv = qkv.reshape(B, N, 3, num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, N, d]
        q = q * (C // num_heads)**-0.5
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        h = (attn @ v).transpose(1, 2).reshape(B, N, C)
        h = F.linear(h, sd[b + 'attn.proj.weight'], sd[b + 'attn.proj.bias'])
        if b + 'gamma_1' in sd:
            h = sd[b + 'gamma_1'] * h
        x = x + h
        h = F.layer_norm(x, (C, ), sd[b + 'norm2.weight'],
                         sd[b + 'norm2.bias'], eps=1e-6)
        h = F.linear(h, sd[b + 'mlp.fc1.weight'], sd[b + 'mlp.fc1.bias'])
        h = F.linear(F.gelu(h), sd[b + 'mlp.fc2.weight'],
                     sd[b + 'mlp.fc2.bias'])
        if b + 'gamma_2' in sd:
            h = sd[b + 'gamma_2'] * h
        x = x + h
    if 'norm.weight' in sd:
        x = F.layer_norm(x, (C, ), sd['norm.weight'], sd['norm.bias'],
                         eps=1e-6)
    pooled = None
    if 'fc_norm.weight' in sd:
        pooled = F.layer_norm(x.mean(1), (C, ), sd['fc_norm.weight'],
                              sd['fc_norm.bias'], eps=1e-6)
    return x, pooled


def video(frames=FRAMES, seed=1):
    return torch.randn(2, 3, frames, SIZE, SIZE, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed))


def build(arch, state_dict, **kwargs):
    """The float64 encoder of ``arch``, ``state_dict`` loaded strictly."""
    encoder = VisionTransformer3D(**{**arch, **kwargs}).eval()
    result = encoder.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return encoder.double()


def convert_all(source, **kwargs):
    state_dict = tool.convert(source, FRAMES, SIZE)
    arch = tool.architecture(state_dict, FRAMES, SIZE, num_heads=HEADS,
                             **kwargs)
    return state_dict, arch


def test_sinusoid_table_matches_videomae():
    assert_close(get_1d_sinusoid_table(1568, 768)[None],
                 reference_table(1568, 768), rtol=0, atol=0)
    table = get_1d_sinusoid_table(8, WIDTH, num_extra_tokens=2)
    assert table.shape == (10, WIDTH) and not table[:2].any()


def test_convert_layout():
    source = fake_videomae_v2()
    state_dict, arch = convert_all({'model': source})  # nested as released
    expected = VisionTransformer3D(**arch).state_dict()
    assert sorted(state_dict) == sorted(expected)
    assert not any(k.startswith('head.') for k in state_dict)
    assert arch['num_cls_tokens'] == 0 and arch['fc_norm']
    assert not arch['final_norm'] and arch['qkv_bias']
    assert (arch['patch_size'], arch['tubelet_size']) == (PATCH, TUBELET)
    assert arch['pos_embed_type'] == 'sinusoid_1d'
    assert not arch['pos_embed_learnable']
    assert arch['arch'] == dict(embed_dims=WIDTH, num_layers=DEPTH,
                                num_heads=HEADS, feedforward_channels=HIDDEN)
    bias = state_dict['blocks.1.attn.qkv.bias']
    assert_close(bias[:WIDTH], source['blocks.1.attn.q_bias'])
    assert not bias[WIDTH:2 * WIDTH].any()
    assert_close(bias[2 * WIDTH:], source['blocks.1.attn.v_bias'])
    assert state_dict['pos_embed_grid'].tolist() == [2, 2, 2]
    assert_close(state_dict['pos_embed'], reference_table(8, WIDTH))


@pytest.mark.parametrize('layer_scale', [False, True])
def test_forward_matches_videomae_v2(layer_scale):
    source = fake_videomae_v2(layer_scale=layer_scale)
    state_dict, arch = convert_all({'module': source})
    inputs = video()
    tokens, pooled = reference_forward(source, inputs)
    with torch.no_grad():
        out_tokens = build(arch, state_dict)(inputs)
        out_pooled = build(arch, state_dict, out_type='avg_featmap')(inputs)
    assert_close(out_tokens, tokens)
    assert_close(out_pooled, pooled)


def test_without_mean_pooling_and_pretrain_layout():
    """``norm`` instead of ``fc_norm``; and the pre-training layout (encoder
    under ``encoder.``, decoder parts dropped)."""
    encoder_sd = fake_videomae_v2(mean_pooling=False, num_classes=0)
    source = {f'encoder.{k}': v for k, v in encoder_sd.items()}
    source.update({'decoder.blocks.0.mlp.fc1.weight': torch.ones(4, 2),
                   'decoder.head.weight': torch.ones(2, 2),
                   'encoder_to_decoder.weight': torch.ones(2, WIDTH),
                   'mask_token': torch.zeros(1, 1, 2)})
    state_dict, arch = convert_all(source)
    assert arch['final_norm'] and not arch['fc_norm']
    inputs = video()
    tokens, _ = reference_forward(encoder_sd, inputs)
    with torch.no_grad():
        assert_close(build(arch, state_dict)(inputs), tokens)


def test_other_frame_count_rebuilds_the_table():
    """VideoMAE v2 built for 8 frames uses the 1-D table of 16 tokens: so do
    an encoder made for 4 frames given 8, and one made for 8 frames loading
    the 4-frame weights (the table rebuilt, not interpolated)."""
    source = fake_videomae_v2()
    state_dict, arch = convert_all(source)
    inputs = video(frames=8)
    tokens, _ = reference_forward(source, inputs)
    with torch.no_grad():
        assert_close(build(arch, state_dict)(inputs), tokens)
        encoder8 = build(arch, dict(state_dict), num_frames=8)
        assert encoder8.pos_embed_grid.tolist() == [4, 2, 2]
        assert_close(encoder8(inputs), tokens)


def test_learnable_pos_embed_is_kept():
    source = fake_videomae_v2()
    source['pos_embed'] = torch.randn(1, 8, WIDTH)
    state_dict, arch = convert_all(source, pos_embed_learnable=True)
    assert_close(state_dict['pos_embed'], source['pos_embed'])
    encoder = build(arch, state_dict)
    assert isinstance(encoder.pos_embed, torch.nn.Parameter)
    with pytest.raises(ValueError, match='pos_embed'):
        tool.convert(source, 8, SIZE)  # 16 tokens expected, 8 stored


def test_convert_errors_name_keys():
    source = fake_videomae_v2()
    source['blocks.0.attn.rel_pos_bias'] = torch.zeros(3)
    with pytest.raises(ValueError, match='blocks.0.attn.rel_pos_bias'):
        tool.convert(source, FRAMES, SIZE)
    source = fake_videomae_v2()
    del source['blocks.1.attn.v_bias']
    with pytest.raises(ValueError, match='blocks.1.attn'):
        tool.convert(source, FRAMES, SIZE)
    with pytest.raises(KeyError, match='patch_embed.proj.weight'):
        tool.convert({'cls_token': torch.zeros(1)}, FRAMES, SIZE)
    with pytest.raises(ValueError, match='patches'):
        tool.convert(fake_videomae_v2(), 3, SIZE)
    with pytest.raises(ValueError, match='num_heads'):
        tool.architecture(tool.convert(fake_videomae_v2(), FRAMES, SIZE))


def test_encoder_options_default_off():
    """The options added for VideoMAE v2 leave the default encoder as is."""
    tiny = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)
    encoder = VisionTransformer3D(arch=tiny, img_size=28, num_frames=2)
    assert encoder.fc_norm is None
    assert not any(k.startswith('fc_norm') for k in encoder.state_dict())
    with pytest.raises(ValueError, match='pos_embed_type'):
        VisionTransformer3D(arch=tiny, img_size=28, num_frames=2,
                            pos_embed_type='sinusoid')


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
def test_cli_end_to_end(tmp_path, fmt):
    """The script (a .pth source) or its entry point in this process (a
    .safetensors source) converts a checkpoint that then loads and runs."""
    source = fake_videomae_v2(layer_scale=True)
    src = str(tmp_path / f'vit_tiny_videomae_v2.{fmt}')
    if fmt == 'pth':
        torch.save({'model': source, 'epoch': 3}, src)
    else:
        save_file(source, src)
    out = str(tmp_path / 'out' / 'vit_tiny.safetensors')
    args = [src, out, '--num-frames', str(FRAMES), '--img-size', str(SIZE),
            '--num-heads', str(HEADS)]
    if fmt == 'pth':
        proc = subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    else:
        tool.main(args)
    with open(out[:-len('.safetensors')] + '.json') as f:
        arch = json.load(f)
    assert sorted(load_file(out)) == sorted(
        VisionTransformer3D(**arch).state_dict())
    encoder = VisionTransformer3D(
        **{**arch, 'out_type': 'avg_featmap'},
        init_cfg=dict(type='Pretrained', checkpoint=out))
    encoder.init_weights()
    inputs = video()
    _, pooled = reference_forward(source, inputs)
    with torch.no_grad():
        assert_close(encoder.double().eval()(inputs), pooled)


def test_cli_errors(tmp_path):
    src = str(tmp_path / 'bad.pth')
    torch.save({'model': {'blocks.0.foo': torch.zeros(1),
                          'patch_embed.proj.weight': torch.zeros(
                              WIDTH, 3, TUBELET, PATCH, PATCH)}}, src)
    # In-process: the CLI exits with SystemExit(message), which Python
    # prints to stderr with status 1 (the subprocess path is
    # test_cli_end_to_end's).
    with pytest.raises(SystemExit, match='blocks.0.foo'):
        tool.main([src, str(tmp_path / 'o.safetensors')])
    with pytest.raises(SystemExit, match=r'\.safetensors'):
        tool.main([src, str(tmp_path / 'o.pth')])
