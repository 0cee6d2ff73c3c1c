"""Tiny fake InternVideo2 / InternVideo-Next encoders and a plain-torch
forward of the authors' encoder arithmetic, for the converter tests.

The fake state dicts have the source's exact key layout (class ``InternVideo2``
of ``InternVideo2/single_modality/models/internvideo2.py`` and of
``InternVideo-Next/models/InternVideo_next.py``) at width 64, 2 blocks, 4
heads, for 4 frames of 28 px (patch 14: a ``(4, 2, 2)`` grid).
"""
import importlib.util
import os.path as osp

import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools', 'model_converters')
WIDTH, DEPTH, HEADS, MLP = 64, 2, 4, 256
PATCH, FRAMES, SIZE = 14, 4, 28
PROJ_HEADS, PROJ_OUT = 8, 32
GRID = (FRAMES, SIZE // PATCH, SIZE // PATCH)


def load_tool(name):
    """Import ``tools/model_converters/<name>.py``."""
    spec = importlib.util.spec_from_file_location(
        f'model_converters_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_state_dict(num_cls, norm_before, seed=0):
    """Source-layout weights, random (norm weights near 1, LayerScale near
    0.5) so that every parameter changes the output."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.1, offset=0.):
        return torch.randn(*shape, generator=g) * scale + offset

    C, P = WIDTH, PATCH * PATCH * 3
    sd = {
        'cls_token': rand(1, num_cls, C, scale=0.02),
        'pos_embed': rand(1, num_cls + GRID[0] * GRID[1] * GRID[2], C),
        'patch_embed.proj.weight': rand(C, 3, 1, PATCH, PATCH, scale=0.05),
        'patch_embed.proj.bias': rand(C),
    }
    if norm_before:
        sd['patch_embed.norm.weight'] = rand(C, offset=1.)
        sd['patch_embed.norm_before.weight'] = rand(P, offset=1.)
    for i in range(DEPTH):
        b = f'blocks.{i}.'
        sd.update({
            b + 'norm1.weight': rand(C, offset=1.),
            b + 'attn.qkv.weight': rand(3 * C, C),
            b + 'attn.q_norm.weight': rand(C, offset=1.),
            b + 'attn.k_norm.weight': rand(C, offset=1.),
            b + 'attn.proj.weight': rand(C, C),
            b + 'attn.proj.bias': rand(C),
            b + 'ls1.gamma': rand(C, offset=0.5),
            b + 'norm2.weight': rand(C, offset=1.),
            b + 'mlp.fc1.weight': rand(MLP, C),
            b + 'mlp.fc1.bias': rand(MLP),
            b + 'mlp.fc2.weight': rand(C, MLP),
            b + 'mlp.fc2.bias': rand(C),
            b + 'ls2.gamma': rand(C, offset=0.5),
        })
    p = 'clip_projector.'
    for n in 'qkv':
        sd[f'{p}norm1_{n}.weight'] = rand(C, offset=1.)
        sd[f'{p}norm1_{n}.bias'] = rand(C)
        sd[f'{p}cross_attn.{n}.weight'] = rand(C, C)
        sd[f'{p}cross_attn.{n}_bias'] = rand(C)
    sd[p + 'cross_attn.proj.weight'] = rand(PROJ_OUT, C)
    sd[p + 'cross_attn.proj.bias'] = rand(PROJ_OUT)
    return sd


def video(seed=1):
    return torch.randn(2, 3, FRAMES, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(seed))


def _rms(x, weight, eps=1e-6):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _heads(x, num_heads):
    B, N, C = x.shape  # -> [B, heads, N, C / heads]
    return x.reshape(B, N, num_heads, C // num_heads).transpose(1, 2)


def _attend(q, k, v, num_heads):
    q, k, v = (_heads(t, num_heads) for t in (q, k, v))
    attn = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    out = attn.softmax(-1) @ v  # [B, heads, Nq, d]
    return out.transpose(1, 2).flatten(2)


def reference_forward(sd, x):
    """The source encoder on ``x [B, 3, T, H, W]`` from its state dict:
    ``(tokens [B, num_cls + N, C], clip_projector output [B, PROJ_OUT])``."""
    B, C_in, T, H, W = x.shape
    h, w = H // PATCH, W // PATCH
    weight, bias = sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias']
    if 'patch_embed.norm_before.weight' in sd:
        # Pixels of each patch in (ph, pw, c) order, RMS-normalised, then the
        # conv as a matrix product.
        patches = x.permute(0, 2, 3, 4, 1).reshape(
            B, T, h, PATCH, w, PATCH, C_in).permute(0, 1, 2, 4, 3, 5, 6)
        patches = patches.reshape(B, T * h * w, PATCH * PATCH * C_in)
        patches = _rms(patches, sd['patch_embed.norm_before.weight'])
        tokens = patches @ weight.permute(0, 2, 3, 4, 1).flatten(1).T + bias
    else:
        tokens = F.conv3d(x, weight, bias, stride=(1, PATCH, PATCH))
        tokens = tokens.flatten(2).transpose(1, 2)  # [B, T h w, C]
    if 'patch_embed.norm.weight' in sd:
        tokens = _rms(tokens, sd['patch_embed.norm.weight'])
    cls = sd['cls_token'].expand(B, -1, -1)
    x = torch.cat([cls, tokens], 1) + sd['pos_embed']
    C = x.shape[-1]
    for i in range(DEPTH):
        b = f'blocks.{i}.'
        y = _rms(x, sd[b + 'norm1.weight'])
        q, k, v = (y @ sd[b + 'attn.qkv.weight'].T).split(C, dim=-1)
        q = _rms(q, sd[b + 'attn.q_norm.weight'])
        k = _rms(k, sd[b + 'attn.k_norm.weight'])
        y = _attend(q, k, v, HEADS) @ sd[b + 'attn.proj.weight'].T + \
            sd[b + 'attn.proj.bias']
        x = x + sd[b + 'ls1.gamma'] * y
        y = _rms(x, sd[b + 'norm2.weight'])
        y = F.gelu(y @ sd[b + 'mlp.fc1.weight'].T + sd[b + 'mlp.fc1.bias'])
        y = y @ sd[b + 'mlp.fc2.weight'].T + sd[b + 'mlp.fc2.bias']
        x = x + sd[b + 'ls2.gamma'] * y
    p = 'clip_projector.'

    def ln(t, n):
        return F.layer_norm(t, (C, ), sd[f'{p}norm1_{n}.weight'],
                            sd[f'{p}norm1_{n}.bias'], 1e-5)

    def lin(t, n):
        return t @ sd[f'{p}cross_attn.{n}.weight'].T + \
            sd[f'{p}cross_attn.{n}_bias']

    q = lin(ln(x.mean(1, keepdim=True), 'q'), 'q')
    out = _attend(q, lin(ln(x, 'k'), 'k'), lin(ln(x, 'v'), 'v'), PROJ_HEADS)
    out = out @ sd[p + 'cross_attn.proj.weight'].T + \
        sd[p + 'cross_attn.proj.bias']
    return x, out.squeeze(1)
