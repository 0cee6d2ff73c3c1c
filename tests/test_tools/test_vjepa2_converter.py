"""tools/model_converters/vjepa2_to_mmivnext.py.

A tiny fake V-JEPA 2 RoPE encoder (width 64, depth 2, 4 heads of 16 channels,
4 frames of 32 px, tubelet 2, patch 16: a (2, 2, 2) token grid) in the exact
key layout of ``facebookresearch/vjepa2`` checkpoints (``encoder`` /
``target_encoder`` entries, ``module.backbone.`` prefixes), converted, loaded
strictly, and compared with a plain-torch re-implementation of V-JEPA 2's
forward (``VisionTransformer`` with ``use_rope=True``: ``RoPEAttention`` and
``rotate_queries_or_keys``, pre-norm blocks, final ``norm``). Compared in
float64: the encoder's kernels (conv3d, SDPA, vectorised RoPE) and the
written-out ops round differently in fp32.
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
from mmivnext.models.utils.rope import apply_rope_3d, rope_3d_split
from script_helpers import load_converter

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'model_converters', 'vjepa2_to_mmivnext.py')
WIDTH, DEPTH, HEADS, HIDDEN = 64, 2, 4, 256
FRAMES, SIZE, TUBELET, PATCH = 4, 32, 2, 16
PREFIX = 'module.backbone.'


tool = load_converter('vjepa2_to_mmivnext')


def fake_encoder(seed=0, width=WIDTH, hidden=HIDDEN):
    """A random encoder state dict in V-JEPA 2's ``VisionTransformer``
    layout (keys without prefixes)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.05):
        return torch.randn(*shape, generator=g) * scale

    sd = {
        'patch_embed.proj.weight': rand(width, 3, TUBELET, PATCH, PATCH),
        'patch_embed.proj.bias': rand(width),
    }
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        sd.update({
            p + 'norm1.weight': 1 + rand(width), p + 'norm1.bias': rand(width),
            p + 'attn.qkv.weight': rand(3 * width, width, scale=0.3),
            p + 'attn.qkv.bias': rand(3 * width),
            p + 'attn.proj.weight': rand(width, width, scale=0.2),
            p + 'attn.proj.bias': rand(width),
            p + 'norm2.weight': 1 + rand(width), p + 'norm2.bias': rand(width),
            p + 'mlp.fc1.weight': rand(hidden, width, scale=0.2),
            p + 'mlp.fc1.bias': rand(hidden),
            p + 'mlp.fc2.weight': rand(width, hidden, scale=0.2),
            p + 'mlp.fc2.bias': rand(width),
        })
    sd['norm.weight'] = 1 + rand(width)
    sd['norm.bias'] = rand(width)
    return sd


def fake_checkpoint():
    """A V-JEPA 2 training checkpoint: two encoders (the EMA one differs),
    a predictor and optimiser state, keys under ``module.backbone.``."""
    def prefixed(sd):
        return {PREFIX + k: v for k, v in sd.items()}

    return {
        'encoder': prefixed(fake_encoder(seed=0)),
        'target_encoder': prefixed(fake_encoder(seed=1)),
        'predictor': {'module.backbone.predictor_embed.weight':
                      torch.zeros(8, WIDTH)},
        'epoch': 10,
    }


# ---------------------------------------------------------------- reference
def reference_rotate(x, pos):
    """``rotate_queries_or_keys`` written out channel by channel: ``x [B, h,
    N, s]``, integer ``pos [B, 1, N]``. Channel ``c`` has the angle
    ``pos * 10000 ** (-(c mod s/2) / (s/2))``; pairs ``(2i, 2i + 1)`` turn
    as ``(x_2i, x_2i+1) -> (x_2i cos - x_2i+1 sin, x_2i+1 cos + x_2i sin)``,
    each with its own channel's angle, computed in x's dtype."""
    s = x.shape[-1]
    half = s // 2
    out = torch.empty_like(x)
    for c in range(s):
        omega = 1. / 10000**(torch.tensor(float(c % half), dtype=x.dtype) /
                             half)
        angle = pos.to(x.dtype) * omega  # [B, 1, N]
        partner = x[..., c + 1] if c % 2 == 0 else x[..., c - 1]
        sign = -1. if c % 2 == 0 else 1.
        out[..., c] = x[..., c] * angle.cos() + sign * partner * angle.sin()
    return out


def reference_forward(sd, video, num_heads=HEADS, masks=None):
    """V-JEPA 2's RoPE ``VisionTransformer.forward`` in plain torch ops.

    ``masks``: LongTensor ``[B, K]`` of kept token indices (V-JEPA 2's
    ``apply_masks``), or None for all tokens.
    """
    sd = {k: v.to(video.dtype) for k, v in sd.items()}
    weight = sd['patch_embed.proj.weight']
    t, p = weight.shape[2], weight.shape[3]
    x = F.conv3d(video, weight, sd['patch_embed.proj.bias'], stride=(t, p, p))
    _, C, T, H, W = x.shape
    x = x.flatten(2).transpose(1, 2)  # [B, N, C], no position embedding
    B, N, _ = x.shape
    ids = torch.arange(N)[None].expand(B, -1) if masks is None else masks
    if masks is not None:
        x = torch.gather(x, 1, masks[..., None].expand(-1, -1, C))
    K = x.shape[1]
    frame = ids // (H * W)  # separate_positions
    height = (ids - frame * H * W) // W
    width = ids - frame * H * W - height * W
    d = C // num_heads
    s = 2 * ((d // 3) // 2)
    depth = len({k.split('.')[1] for k in sd if k.startswith('blocks.')})
    for i in range(depth):
        b = f'blocks.{i}.'
        h = F.layer_norm(x, (C, ), sd[b + 'norm1.weight'],
                         sd[b + 'norm1.bias'], eps=1e-6)
        qkv = F.linear(h, sd[b + 'attn.qkv.weight'], sd[b + 'attn.qkv.bias'])
        qkv = qkv.unflatten(-1, (3, num_heads, -1)).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, K, d]

        def rope(z):
            chunks = [reference_rotate(z[..., a * s:(a + 1) * s],
                                       pos[:, None])
                      for a, pos in enumerate((frame, height, width))]
            return torch.cat(chunks + [z[..., 3 * s:]], dim=-1)

        q, k = rope(q), rope(k)
        attn = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(dim=-1)
        h = (attn @ v).transpose(1, 2).reshape(B, K, C)
        x = x + F.linear(h, sd[b + 'attn.proj.weight'],
                         sd[b + 'attn.proj.bias'])
        h = F.layer_norm(x, (C, ), sd[b + 'norm2.weight'],
                         sd[b + 'norm2.bias'], eps=1e-6)
        h = F.linear(h, sd[b + 'mlp.fc1.weight'], sd[b + 'mlp.fc1.bias'])
        x = x + F.linear(F.gelu(h), sd[b + 'mlp.fc2.weight'],
                         sd[b + 'mlp.fc2.bias'])
    return F.layer_norm(x, (C, ), sd['norm.weight'], sd['norm.bias'],
                        eps=1e-6)


def video(frames=FRAMES, size=SIZE, seed=2):
    return torch.randn(2, 3, frames, size, size, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed))


def build(arch, state_dict, **kwargs):
    """The float64 encoder of ``arch``, ``state_dict`` loaded strictly."""
    encoder = VisionTransformer3D(**{**arch, **kwargs}).eval()
    result = encoder.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return encoder.double()


def convert_all(source, checkpoint_key='target_encoder'):
    state_dict = tool.convert(source, checkpoint_key)
    arch = tool.architecture(state_dict, FRAMES, SIZE, num_heads=HEADS)
    return state_dict, arch


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize('head_dims', [16, 64, 80])
def test_rope_matches_reference(head_dims):
    """Head split (``s = 2 ((d // 3) // 2)`` per axis, rest unrotated) and
    V-JEPA 2's repeated-frequency pairing."""
    s = rope_3d_split(head_dims)
    assert s == {16: 4, 64: 20, 80: 26}[head_dims]
    x = torch.randn(2, 3, 5, head_dims, dtype=torch.float64)
    pos = torch.randint(0, 7, (2, 5, 3))
    expected = torch.cat(
        [reference_rotate(x[..., a * s:(a + 1) * s], pos[:, None, :, a])
         for a in range(3)] + [x[..., 3 * s:]], dim=-1)
    out = apply_rope_3d(x, pos)
    assert_close(out, expected)
    assert torch.equal(out[..., 3 * s:], x[..., 3 * s:])
    assert_close(apply_rope_3d(x, torch.zeros_like(pos)), x)


def test_convert_layout():
    source = fake_checkpoint()
    state_dict, arch = convert_all(source)
    expected = VisionTransformer3D(**arch).state_dict()
    assert sorted(state_dict) == sorted(expected)
    assert not any('pos_embed' in k for k in state_dict)
    assert arch['num_cls_tokens'] == 0 and arch['final_norm']
    assert arch['qkv_bias'] and arch['pos_embed_type'] == 'rope_3d'
    assert (arch['patch_size'], arch['tubelet_size']) == (PATCH, TUBELET)
    assert arch['arch'] == dict(embed_dims=WIDTH, num_layers=DEPTH,
                                num_heads=HEADS, feedforward_channels=HIDDEN)
    # target_encoder by default; encoder on request
    assert_close(state_dict['norm.weight'],
                 source['target_encoder'][PREFIX + 'norm.weight'])
    online, _ = convert_all(source, 'encoder')
    assert_close(online['norm.weight'],
                 source['encoder'][PREFIX + 'norm.weight'])
    # a bare encoder state dict, with or without prefixes; pos_embed dropped
    bare = fake_encoder()
    bare['pos_embed'] = torch.zeros(1, 8, WIDTH)
    assert sorted(tool.convert(bare)) == sorted(state_dict)
    assert sorted(tool.convert({PREFIX + k: v for k, v in bare.items()})) \
        == sorted(state_dict)


@pytest.mark.parametrize('checkpoint_key', ['target_encoder', 'encoder'])
def test_forward_matches_vjepa2(checkpoint_key):
    source = fake_checkpoint()
    plain = {k[len(PREFIX):]: v for k, v in source[checkpoint_key].items()}
    state_dict, arch = convert_all(source, checkpoint_key)
    inputs = video()
    with torch.no_grad():
        out = build(arch, state_dict)(inputs)
    assert_close(out, reference_forward(plain, inputs))


def test_visible_tokens_and_other_sizes():
    """Kept tokens keep their grid positions (V-JEPA 2's ``masks``); inputs of
    another frame count / size get RoPE positions of their own grid."""
    plain = fake_encoder(seed=1)
    state_dict, arch = convert_all(fake_checkpoint())
    encoder = build(arch, state_dict)
    inputs = video()
    keep = torch.tensor([[0, 3, 5, 6], [7, 1, 2, 4]])
    with torch.no_grad():
        assert_close(encoder(inputs, keep),
                     reference_forward(plain, inputs, masks=keep))
        bigger = video(frames=8, size=48)  # a (4, 3, 3) grid
        assert_close(encoder(bigger), reference_forward(plain, bigger))


def test_rope_encoder_options():
    tiny = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)
    encoder = VisionTransformer3D(arch=tiny, img_size=32, num_frames=2,
                                  patch_size=16, num_cls_tokens=0,
                                  pos_embed_type='rope_3d')
    assert encoder.pos_embed is None
    assert not any('pos_embed' in k for k in encoder.state_dict())
    encoder.init_weights()  # no pos_embed to initialise
    with pytest.raises(ValueError, match='num_cls_tokens'):
        VisionTransformer3D(arch=tiny, img_size=32, num_frames=2,
                            patch_size=16, pos_embed_type='rope_3d')
    # activation checkpointing passes the positions on
    encoder = VisionTransformer3D(arch=tiny, img_size=32, num_frames=2,
                                  patch_size=16, num_cls_tokens=0,
                                  pos_embed_type='rope_3d', with_cp=True)
    encoder.init_weights()
    inputs = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        expected = encoder.eval()(inputs)
    encoder.train()
    out = encoder(inputs)
    out.sum().backward()
    assert_close(out.detach(), expected)


def test_convert_errors_name_keys():
    source = fake_encoder()
    source['blocks.0.mlp.fc3.weight'] = torch.zeros(3)
    with pytest.raises(ValueError, match='blocks.0.mlp.fc3.weight'):
        tool.convert(source)
    with pytest.raises(KeyError, match='patch_embed.proj.weight'):
        tool.convert({'cls_token': torch.zeros(1)})
    image = fake_encoder()
    image['patch_embed.proj.weight'] = torch.zeros(WIDTH, 3, PATCH, PATCH)
    with pytest.raises(ValueError, match='Conv3d'):
        tool.convert(image)
    with pytest.raises(ValueError, match="'encoder'"):
        tool.convert({'encoder': {PREFIX + 'norm.weight': torch.zeros(2)}})
    with pytest.raises(ValueError, match='checkpoint_key'):
        tool.convert(fake_checkpoint(), 'ema_encoder')
    with pytest.raises(ValueError, match='num_heads'):
        tool.architecture(tool.convert(fake_encoder()))
    assert tool.architecture(tool.convert(fake_encoder(
        width=1024, hidden=64)))['arch']['num_heads'] == 16


@pytest.mark.parametrize('fmt', ['pt', 'safetensors'])
def test_cli_end_to_end(tmp_path, fmt, capsys):
    """The script (a .pt source) or its entry point in this process (a
    .safetensors source) converts a checkpoint that then loads and runs."""
    source = fake_checkpoint()
    src = str(tmp_path / f'vitl_vjepa2.{fmt}')
    if fmt == 'pt':
        torch.save(source, src)
        key, plain_seed = 'encoder', 0
        extra = ['--checkpoint-key', 'encoder']
    else:
        save_file(source['target_encoder'], src)  # a bare encoder
        key, plain_seed = 'target_encoder', 1
        extra = []
    out = str(tmp_path / 'out' / 'vit_tiny.safetensors')
    args = [src, out, '--num-frames', str(FRAMES), '--img-size', str(SIZE),
            '--num-heads', str(HEADS), *extra]
    if fmt == 'pt':
        proc = subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        stdout = proc.stdout
    else:
        tool.main(args)
        stdout = capsys.readouterr().out
    assert key in stdout
    with open(out[:-len('.safetensors')] + '.json') as f:
        arch = json.load(f)
    assert sorted(load_file(out)) == sorted(
        VisionTransformer3D(**arch).state_dict())
    encoder = VisionTransformer3D(
        **arch, init_cfg=dict(type='Pretrained', checkpoint=out))
    encoder.init_weights()
    inputs = video()
    with torch.no_grad():
        assert_close(encoder.double().eval()(inputs),
                     reference_forward(fake_encoder(seed=plain_seed), inputs))


def test_cli_errors(tmp_path):
    src = str(tmp_path / 'bad.pt')
    bad = {PREFIX + 'blocks.0.foo': torch.zeros(1),
           PREFIX + 'patch_embed.proj.weight': torch.zeros(
               WIDTH, 3, TUBELET, PATCH, PATCH)}
    torch.save({'target_encoder': bad, 'encoder': bad}, src)
    # In-process: the CLI exits with SystemExit(message), which Python
    # prints to stderr with status 1 (the subprocess path is
    # test_cli_end_to_end's).
    with pytest.raises(SystemExit, match='blocks.0.foo'):
        tool.main([src, str(tmp_path / 'o.safetensors')])
    with pytest.raises(SystemExit, match=r'\.safetensors'):
        tool.main([src, str(tmp_path / 'o.pth')])
