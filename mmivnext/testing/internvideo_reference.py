"""Tiny fake InternVideo2 / InternVideo-Next encoders and a plain-torch
forward of the authors' encoder arithmetic, for the converter tests.

The fake state dicts have the source's exact key layout (class ``InternVideo2``
of ``InternVideo2/single_modality/models/internvideo2.py`` and of
``InternVideo-Next/models/InternVideo_next.py``) at width 64, 2 blocks, 4
heads, for 4 frames of 28 px (patch 14: a ``(4, 2, 2)`` grid).
"""
import torch
import torch.nn.functional as F

WIDTH, DEPTH, HEADS, MLP = 64, 2, 4, 256
PATCH, FRAMES, SIZE = 14, 4, 28
PROJ_HEADS, PROJ_OUT = 8, 32
GRID = (FRAMES, SIZE // PATCH, SIZE // PATCH)


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
    """Random inputs of the fake encoders, ``[2, 3, FRAMES, SIZE, SIZE]``."""
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
    """The source encoder on ``x [B, 3, T, H, W]`` from its state dict, in
    x's dtype: ``(tokens [B, num_cls + N, C], clip_projector output
    [B, PROJ_OUT])``."""
    sd = {k: v.to(x.dtype) for k, v in sd.items()}
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


# ------------------------------------------- authors' training checkpoints
#: A tiny ModernBERT (built as the predictor tests do): 6 layers, global
#: attention in layers 0 and 3, local reach 4 tokens, width 48 (not the
#: encoder's 64, so that a transposed projection cannot load).
PRED_BERT = dict(
    hidden_size=48, num_hidden_layers=6, num_attention_heads=4,
    intermediate_size=96, global_attn_every_n_layers=3, local_attention=8,
    vocab_size=32, max_position_embeddings=64, pad_token_id=0, bos_token_id=1,
    eos_token_id=2, cls_token_id=1, sep_token_id=2)
#: The authors keep the last 5 layers: original 1..5 (3 global, the rest
#: local); L = 4 + 16 = 20 tokens, longer than the local window.
PRED_LAYERS, PRED_DIMS = 5, 48
#: Stage-1 and Stage-2 heads of the authors' models, left out of the init.
AUTHOR_HEADS = ('clip_decoder.0.head.0.weight', 'clip_decoder.0.norm.bias',
                'final_clip_decoder.head.2.weight', 'diffloss.net.res.0.w',
                'selfdist_decoder.head.0.weight', 'selfdist_decoder.norm.bias',
                'selfdist_normproj_decoder.head.2.bias',
                'selfdist_proj_clip.norm.weight')


def fake_training_module(seed=0):
    """The ``module`` weights of an authors' training checkpoint: the encoder
    of :func:`fake_state_dict`, ``clip_pos_embed``, the predictor parts
    (``bert_mask_token``, ``diff_pos_embed``, ``to_bert_proj``) and
    ``bert_decoder``: a transformers ``ModernBertModel`` of :data:`PRED_BERT`
    cut to its last :data:`PRED_LAYERS` layers, as the authors do (so its
    embeddings and final norm are kept), plus :data:`AUTHOR_HEADS`."""
    from transformers import ModernBertConfig, ModernBertModel

    sd = fake_state_dict(num_cls=4, norm_before=True, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)

    def rand(*shape, scale=0.1, offset=0.):
        return torch.randn(*shape, generator=g) * scale + offset

    C, D, N = WIDTH, PRED_DIMS, sd['pos_embed'].shape[1]
    sd.update({
        'clip_pos_embed': rand(1, N, C),
        'diff_pos_embed': rand(1, N, C),
        'bert_mask_token': rand(1, 1, C, scale=0.5),
        'to_bert_proj.head.0.weight': rand(C, C, scale=0.2),
        'to_bert_proj.head.0.bias': rand(C),
        'to_bert_proj.head.2.weight': rand(D, C, scale=0.2),
        'to_bert_proj.head.2.bias': rand(D),
        'to_bert_proj.norm.weight': rand(D, offset=1.),
        'to_bert_proj.norm.bias': rand(D),
    })
    bert = ModernBertModel(ModernBertConfig(**PRED_BERT))
    bert.layers = bert.layers[-PRED_LAYERS:]
    for key, value in bert.state_dict().items():
        sd['bert_decoder.' + key] = rand(
            *value.shape, offset=1. if 'norm' in key else 0.)
    for key in AUTHOR_HEADS:
        sd[key] = rand(3, 2)
    return sd


def _layer_norm(x, weight, bias=None, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1], ), weight, bias, eps)


def _rope(x, theta):
    """Rotate-half RoPE of ``x [B, h, L, d]`` at positions ``0 .. L-1``."""
    L, d = x.shape[-2:]
    freqs = theta**(-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.arange(L, dtype=torch.float64)[:, None] * freqs  # [L, d/2]
    angles = torch.cat([angles, angles], -1).to(x.dtype)
    x1, x2 = x[..., :d // 2], x[..., d // 2:]
    return x * angles.cos() + torch.cat([-x2, x1], -1) * angles.sin()


def _bert_layer(x, sd, p, index):
    """Original ModernBERT layer ``index`` of :data:`PRED_BERT` (weights
    ``sd[p + ...]``) on ``x [B, L, D]``: pre-norm, RoPE attention (global
    every 3rd layer, else |i - j| <= local_attention / 2), GLU GELU MLP."""
    B, L, D = x.shape
    heads = PRED_BERT['num_attention_heads']
    is_global = index % PRED_BERT['global_attn_every_n_layers'] == 0
    y = _layer_norm(x, sd[p + 'attn_norm.weight'])
    qkv = (y @ sd[p + 'attn.Wqkv.weight'].T).reshape(B, L, 3, heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, h, L, d]
    theta = 160000. if is_global else 10000.
    q, k = _rope(q, theta), _rope(k, theta)
    scores = q @ k.transpose(-2, -1) * q.shape[-1]**-0.5  # [B, h, L, L]
    if not is_global:
        pos = torch.arange(L)
        far = (pos[:, None] - pos[None]).abs() > PRED_BERT['local_attention'] // 2
        scores = scores.masked_fill(far, float('-inf'))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
    x = x + y @ sd[p + 'attn.Wo.weight'].T
    y = _layer_norm(x, sd[p + 'mlp_norm.weight'])
    a, gate = (y @ sd[p + 'mlp.Wi.weight'].T).chunk(2, -1)
    return x + (F.gelu(a) * gate) @ sd[p + 'mlp.Wo.weight'].T


def reference_predictor(sd, tokens, mask):
    """The authors' predictor (``forward_reconstruction_loss`` of
    ``InternVideo_next_s1.py`` / ``_s2.py`` with every token kept) from their
    state dict.

    Args:
        sd (dict): :func:`fake_training_module`.
        tokens (Tensor): Encoder output ``[B, 4 + K, C]``: cls tokens, then
            the visible tokens in grid order.
        mask (Tensor): Bool ``[B, N]``, True where masked (``N - K`` per row).

    Returns:
        Tensor: ``[B, 4 + N, D]``, the layers' output (no final norm).
    """
    num_cls = sd['cls_token'].shape[1]
    B, N = mask.shape
    grid = sd['bert_mask_token'].repeat(B, N, 1)  # [B, N, C]
    grid[~mask] = tokens[:, num_cls:].flatten(0, 1)
    grid = grid + sd['diff_pos_embed'][:, num_cls:]
    cls = tokens[:, :num_cls] + sd['diff_pos_embed'][:, :num_cls]
    x = torch.cat([cls, grid], 1)
    p = 'to_bert_proj.'
    x = F.gelu(x @ sd[p + 'head.0.weight'].T + sd[p + 'head.0.bias'])
    x = x @ sd[p + 'head.2.weight'].T + sd[p + 'head.2.bias']
    x = _layer_norm(x, sd[p + 'norm.weight'], sd[p + 'norm.bias'])
    total = PRED_BERT['num_hidden_layers']
    for i in range(PRED_LAYERS):
        x = _bert_layer(x, sd, f'bert_decoder.layers.{i}.',
                        total - PRED_LAYERS + i)
    return x
