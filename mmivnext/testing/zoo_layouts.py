"""Key layouts of the released encoders of the model zoo, at any size.

Each ``*_layout`` function returns the ``{key: shape}`` of one source's
released checkpoint, in the source's own names and nesting, for given sizes;
:data:`RELEASES` holds the real sizes of the checkpoints the zoo configs
(``configs/_base_/encoders/``) are written for, :data:`TINY` small ones.
:func:`materialize` turns a layout into tensors: on the ``meta`` device (real
sizes cost nothing) or random (tiny sizes, for end-to-end runs).

The real sizes are the published ones:

* InternVideo-Next ViT-L/14 (``revliter/internvideo_next_large_p14_res224_f16``,
  ``InternVideo-Next/models/InternVideo_next.py``,
  ``internvideo_next_large_patch14_224``): 1024 x 24, MLP 4096, 4 cls
  tokens, 16 frames at 224, attention-pooling projector to 768.
* InternVideo2 ViT-L/14 (distilled from InternVideo2-1B, stage-2 vision
  encoder under ``vision_encoder.``): 1024 x 24, MLP 4096, 1 cls token,
  8 frames in its position embedding, projector to 768 and distillation
  decoders (``clip_decoder``, dropped by the converter).
* VideoMAE v2 ViT-g/14 (``vit_g_hybrid_pt_1200e``, pre-training checkpoint
  under ``model``, encoder under ``encoder.``): 1408 x 40, MLP 6144, patch
  14, tubelet 2, ``q_bias`` / ``v_bias``, final ``norm``, decoder parts.
* V-JEPA 2 ViT-L/16 (``vitl.pt``, ``vit_large`` with RoPE): 1024 x 24,
  MLP 4096, patch 16, tubelet 2, qkv bias, final ``norm``; ``encoder`` and
  ``target_encoder`` entries with ``module.backbone.`` prefixes.
"""
import math
from typing import Dict, Tuple

import torch

Shapes = Dict[str, Tuple[int, ...]]


def _blocks(prefix: str, width: int, depth: int, mlp: int, *,
            rms: bool, qk_norm: bool, layer_scale: bool, qkv_bias: str
            ) -> Shapes:
    """Pre-norm transformer blocks ``{prefix}blocks.i.*``. ``qkv_bias``:
    ``'none'``, ``'joint'`` (``attn.qkv.bias``) or ``'qv'`` (VideoMAE's
    ``q_bias`` / ``v_bias``)."""
    out = {}
    for i in range(depth):
        b = f'{prefix}blocks.{i}.'
        for norm in ('norm1', 'norm2'):
            out[f'{b}{norm}.weight'] = (width, )
            if not rms:
                out[f'{b}{norm}.bias'] = (width, )
        out[f'{b}attn.qkv.weight'] = (3 * width, width)
        if qkv_bias == 'joint':
            out[f'{b}attn.qkv.bias'] = (3 * width, )
        elif qkv_bias == 'qv':
            out[f'{b}attn.q_bias'] = (width, )
            out[f'{b}attn.v_bias'] = (width, )
        if qk_norm:
            out[f'{b}attn.q_norm.weight'] = (width, )
            out[f'{b}attn.k_norm.weight'] = (width, )
        out[f'{b}attn.proj.weight'] = (width, width)
        out[f'{b}attn.proj.bias'] = (width, )
        out[f'{b}mlp.fc1.weight'] = (mlp, width)
        out[f'{b}mlp.fc1.bias'] = (mlp, )
        out[f'{b}mlp.fc2.weight'] = (width, mlp)
        out[f'{b}mlp.fc2.bias'] = (width, )
        if layer_scale:
            out[f'{b}ls1.gamma'] = (width, )
            out[f'{b}ls2.gamma'] = (width, )
    return out


def _attention_pool(prefix: str, width: int, out_dims: int) -> Shapes:
    """InternVideo's ``AttentionPoolingBlock`` (``clip_projector``)."""
    out = {}
    for n in 'qkv':
        out[f'{prefix}norm1_{n}.weight'] = (width, )
        out[f'{prefix}norm1_{n}.bias'] = (width, )
        out[f'{prefix}cross_attn.{n}.weight'] = (width, width)
        out[f'{prefix}cross_attn.{n}_bias'] = (width, )
    out[f'{prefix}cross_attn.proj.weight'] = (out_dims, width)
    out[f'{prefix}cross_attn.proj.bias'] = (out_dims, )
    return out


def internvideo_layout(width, depth, mlp, frames, size, proj_out=None, *,
                       num_cls=4, pixel_norm=True, prefix='',
                       decoder=False, patch=14) -> Shapes:
    """InternVideo-Next (``num_cls=4, pixel_norm=True``) or InternVideo2
    (``num_cls=1, pixel_norm=False``) encoder; ``proj_out=None``: no
    attention-pooling projector (InternVideo2's stage-1 models)."""
    tokens = frames * (size // patch) ** 2
    out = {
        f'{prefix}cls_token': (1, num_cls, width),
        f'{prefix}pos_embed': (1, num_cls + tokens, width),
        f'{prefix}patch_embed.proj.weight': (width, 3, 1, patch, patch),
        f'{prefix}patch_embed.proj.bias': (width, ),
    }
    if pixel_norm:
        out[f'{prefix}patch_embed.norm_before.weight'] = (patch * patch * 3, )
        out[f'{prefix}patch_embed.norm.weight'] = (width, )
    out.update(_blocks(prefix, width, depth, mlp, rms=True, qk_norm=True,
                       layer_scale=True, qkv_bias='none'))
    if proj_out is not None:
        out.update(_attention_pool(f'{prefix}clip_projector.', width,
                                   proj_out))
    if decoder:  # distillation decoders, not part of the encoder
        out[f'{prefix}clip_decoder.0.head.weight'] = (768, width)
        out[f'{prefix}clip_decoder.0.norm.weight'] = (width, )
    return out


def videomae_v2_pretrain_layout(width, depth, mlp, patch, tubelet) -> Shapes:
    """VideoMAE v2 pre-training model (``encoder.`` + decoder parts)."""
    out = {'encoder.patch_embed.proj.weight': (width, 3, tubelet, patch, patch),
           'encoder.patch_embed.proj.bias': (width, )}
    out.update(_blocks('encoder.', width, depth, mlp, rms=False,
                       qk_norm=False, layer_scale=False, qkv_bias='qv'))
    out['encoder.norm.weight'] = (width, )
    out['encoder.norm.bias'] = (width, )
    out['encoder_to_decoder.weight'] = (width // 2, width)
    out['mask_token'] = (1, 1, width // 2)
    out['decoder.head.weight'] = (tubelet * patch * patch * 3, width // 2)
    return out


def vjepa2_encoder_layout(width, depth, mlp, patch, tubelet,
                          prefix='module.backbone.') -> Shapes:
    """One V-JEPA 2 RoPE encoder (keys with ``prefix``)."""
    out = {f'{prefix}patch_embed.proj.weight': (width, 3, tubelet, patch,
                                                patch),
           f'{prefix}patch_embed.proj.bias': (width, )}
    out.update(_blocks(prefix, width, depth, mlp, rms=False, qk_norm=False,
                       layer_scale=False, qkv_bias='joint'))
    out[f'{prefix}norm.weight'] = (width, )
    out[f'{prefix}norm.bias'] = (width, )
    return out


def materialize(shapes: Shapes, device: str = 'cpu', seed: int = 0) -> dict:
    """Tensors of ``shapes``: empty on ``'meta'``, else random, with norm
    weights and LayerScale around 1 and 0.5, so that every weight matters."""
    if device == 'meta':
        return {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        scale = 0.02 if key.endswith(('cls_token', 'pos_embed')) else \
            1 / math.sqrt(shape[-1]) if len(shape) > 1 else 0.05
        value = torch.randn(shape, generator=g) * scale
        leaf = key.rsplit('.', 2)
        if key.endswith('gamma'):
            value += 0.5
        elif key.endswith('.weight') and 'norm' in leaf[-2]:
            value += 1.
        out[key] = value
    return out


def checkpoint_of(source: str, sizes: dict, device: str = 'cpu') -> dict:
    """A checkpoint of ``source`` in its released nesting."""
    if source == 'internvideo_next':
        return materialize(internvideo_layout(**sizes), device)
    if source == 'internvideo2':
        return materialize(internvideo_layout(
            **sizes, num_cls=1, pixel_norm=False, prefix='vision_encoder.',
            decoder=True), device)
    if source == 'videomae_v2':
        return {'model': materialize(
            videomae_v2_pretrain_layout(**sizes), device)}
    if source == 'vjepa2':
        return {entry: materialize(vjepa2_encoder_layout(**sizes), device,
                                   seed=seed)
                for seed, entry in enumerate(('encoder', 'target_encoder'))}
    raise KeyError(source)


#: Real sizes of the released checkpoints the zoo configs are written for,
#: keyed by the zoo encoder config name (configs/_base_/encoders/<name>.py):
#: (converter source, layout sizes).
RELEASES = {
    'internvideo-next_vit-large-p14': ('internvideo_next', dict(
        width=1024, depth=24, mlp=4096, frames=16, size=224, proj_out=768)),
    'internvideo2_vit-large-p14': ('internvideo2', dict(
        width=1024, depth=24, mlp=4096, frames=8, size=224, proj_out=768)),
    'videomae-v2_vit-giant-p14': ('videomae_v2', dict(
        width=1408, depth=40, mlp=6144, patch=14, tubelet=2)),
    'vjepa2_vit-large-p16': ('vjepa2', dict(
        width=1024, depth=24, mlp=4096, patch=16, tubelet=2)),
}

#: InternVideo2 ViT-B/14 stage 1 (distilled from InternVideo2-1B; the
#: single-modality pre-training model: distillation decoders, no projector),
#: the frozen target of the Table 3 ablation (configs/ivnext/ablations/
#: ivnext-stage2-internvideo2-target_vit-base-p14_32xb32-8x1x1-30e_k710.py).
INTERNVIDEO2_S1_VITB = ('internvideo2', dict(
    width=768, depth=12, mlp=3072, frames=8, size=224))

#: The same layouts at test size (width 64, 2 blocks, 4 heads).
TINY_ARCH = dict(embed_dims=64, num_layers=2, num_heads=4,
                 feedforward_channels=128)
TINY = {
    name: (source, {**sizes, 'width': 64, 'depth': 2, 'mlp': 128,
                    **({'proj_out': 32, 'frames': 4, 'size': 28}
                       if 'proj_out' in sizes else {})})
    for name, (source, sizes) in RELEASES.items()
}
