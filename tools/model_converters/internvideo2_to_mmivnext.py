"""Convert an InternVideo2 video encoder to ``VisionTransformer3D`` weights.

::

    python tools/model_converters/internvideo2_to_mmivnext.py SRC OUT.safetensors \\
        [--prefix vision_encoder.] [--num-heads 12] [--img-size 224]

``SRC`` is a ``.safetensors`` file or a torch file (read with
``weights_only=True``); a checkpoint dict is unwrapped from its ``module`` /
``model`` / ``state_dict`` entry. Writes ``OUT.safetensors`` (our names) and
``OUT.json`` (the ``VisionTransformer3D`` keyword arguments), so that::

    encoder = VisionTransformer3D(**json.load(open('OUT.json')), init_cfg=dict(
        type='Pretrained', checkpoint='OUT.safetensors'))
    encoder.init_weights()

rebuilds the encoder (loaded strictly).

Source layout (GitHub ``OpenGVLab/InternVideo``, class ``InternVideo2`` in
``InternVideo2/single_modality/models/internvideo2.py``; the multi-modal
models nest it under ``vision_encoder.``): ``cls_token [1, 1, C]``,
``pos_embed [1, 1 + T'H'W', C]`` (joint, cls row first, added after the cls
token is prepended), ``patch_embed.proj`` (``Conv3d``, patch 14, tubelet 1, no
norm), ``blocks.i.{norm1, attn.qkv (no bias), attn.q_norm, attn.k_norm,
attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}`` with RMSNorm (eps
1e-6, applied over all heads for q/k) and the pre-norm residual, no final
norm, and ``clip_projector`` (attention pooling, mean query, LayerNorm eps
1e-5, ``cross_attn.{q,k,v}_bias``). The renames are ``clip_projector.`` ->
``projector.``, ``cross_attn.{q,k,v}_bias`` -> ``cross_attn.{q,k,v}.bias`` and
``patch_embed.norm_before.`` -> ``patch_embed.pixel_norm.`` (InternVideo-Next);
``pos_embed_grid`` is added. Everything else in the source (classification
``fc_norm`` / ``head``, distillation decoders, ``clip_pos_embed``...) is not
part of the encoder and is dropped; the CLI lists the dropped prefixes.

The architecture is read from the weights (width, depth, MLP size, cls
tokens, qkv bias, QK norm, LayerScale, norms, patch and tubelet size, frame
count for ``--img-size``), except the head counts, which weights do not
determine: ``--num-heads`` (default by width: :data:`HEADS_BY_WIDTH`) and
``--projector-heads`` (default 16, every release). The separable position
embedding variant (``pos_embed_spatial`` / ``pos_embed_temporal``) is not
supported.
"""
import argparse
import re
from collections import OrderedDict
from typing import Mapping, Optional, Tuple

import mmivnext  # noqa: F401  (safetensors loading through MMEngine)
import torch

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.utils.checkpoint_io import load_state_dict_file
from mmivnext.utils.encoder_export import (RESET_OPTIONS,
                                           add_input_output_args,
                                           block_architecture,
                                           check_input_output, exit_error,
                                           write_exported_encoder)


#: Attention heads of the released widths (small, base, large, 1B, 6B).
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1408: 16, 3200: 25}
#: Key prefixes tried, in order, when none is given.
PREFIXES = ('', 'module.', 'vision_encoder.', 'module.vision_encoder.')
#: Checkpoint entries that hold the state dict of a training checkpoint.
CONTAINER_KEYS = ('module', 'model', 'state_dict')
#: Source encoder keys (prefix removed).
ENCODER_KEY = re.compile(
    r'(cls_token|pos_embed'
    r'|patch_embed\.(proj|norm|norm_before)\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.(qkv|proj|q_norm|k_norm)|ls1|ls2'
    r'|mlp\.(fc1|fc2))\.(weight|bias|gamma)'
    r'|clip_projector\..+)')
#: Source -> our names, applied in order to each encoder key.
RENAMES = (
    (re.compile(r'^clip_projector\.'), 'projector.'),
    (re.compile(r'\.cross_attn\.([qkv])_bias$'), r'.cross_attn.\1.bias'),
    (re.compile(r'^patch_embed\.norm_before\.'), 'patch_embed.pixel_norm.'),
)


def find_prefix(state_dict: Mapping) -> str:
    """The first of :data:`PREFIXES` under which ``state_dict`` has a
    ``cls_token``; ValueError naming the top-level prefixes if none."""
    for prefix in PREFIXES:
        if f'{prefix}cls_token' in state_dict:
            return prefix
    tops = sorted({k.split('.')[0] for k in state_dict})
    raise ValueError(f'no cls_token under any of the prefixes {PREFIXES}; '
                     f'the keys start with {tops}; give the prefix')


def split(state_dict: Mapping,
          prefix: Optional[str] = None) -> Tuple['OrderedDict', 'OrderedDict']:
    """Split a source state dict into its encoder and the rest.

    Args:
        state_dict (Mapping): Source weights.
        prefix (str, optional): Prefix of the encoder keys; None finds it
            (:func:`find_prefix`).

    Returns:
        tuple[OrderedDict, OrderedDict]: The encoder weights with ``prefix``
        removed (source names), and every other entry (names unchanged).
    """
    if prefix is None:
        prefix = find_prefix(state_dict)
    encoder, rest = OrderedDict(), OrderedDict()
    for key, value in state_dict.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name is not None and ENCODER_KEY.fullmatch(name):
            encoder[name] = value
        else:
            rest[key] = value
    return encoder, rest


def _rename(name: str) -> str:
    for pattern, replacement in RENAMES:
        name = pattern.sub(replacement, name)
    return name


def convert(state_dict: Mapping, prefix: Optional[str] = None,
            img_size: int = 224) -> 'OrderedDict':
    """InternVideo2 (or InternVideo-Next) encoder weights in our names.

    Args:
        state_dict (Mapping): Source weights (module docstring).
        prefix (str, optional): Prefix of the encoder keys, e.g.
            ``'vision_encoder.'``; None finds it. Defaults to None.
        img_size (int): Input size the position embedding was made for; gives
            the grid stored as ``pos_embed_grid``. Defaults to 224.

    Returns:
        OrderedDict: ``VisionTransformer3D`` state dict (contiguous tensors,
        ``pos_embed_grid`` included); source entries outside the encoder are
        left out.

    Raises:
        ValueError: No encoder, the separable position embedding, or a
            position embedding that does not fit ``img_size``.
    """
    if prefix is None:
        prefix = find_prefix(state_dict)
    encoder, _ = split(state_dict, prefix)
    if f'{prefix}pos_embed_spatial' in state_dict:
        raise ValueError(f'{prefix}pos_embed_spatial: the separable position '
                         f'embedding (sep_pos_embed=True) is not supported')
    for key in ('cls_token', 'pos_embed', 'patch_embed.proj.weight'):
        if key not in encoder:
            raise ValueError(f'no {prefix}{key}: not an InternVideo2 encoder')
    out = OrderedDict((_rename(k), v.contiguous()) for k, v in encoder.items())
    out['pos_embed_grid'] = torch.tensor(
        _grid(encoder, img_size), dtype=torch.int64)
    return out


def _grid(encoder: Mapping, img_size: int) -> Tuple[int, int, int]:
    """Token grid ``(T', H', W')`` of the source ``pos_embed``."""
    patch = encoder['patch_embed.proj.weight'].shape[-1]
    if img_size % patch:
        raise ValueError(f'img_size {img_size} is not a multiple of the '
                         f'patch size {patch}')
    side = img_size // patch
    num_cls = encoder['cls_token'].shape[1]
    num_patches = encoder['pos_embed'].shape[1] - num_cls
    if num_patches <= 0 or num_patches % (side * side):
        raise ValueError(
            f'pos_embed has {num_patches} patch rows (after {num_cls} cls '
            f'rows), not a whole number of {side}x{side} frames for img_size '
            f'{img_size}; give the img_size it was trained at')
    return num_patches // (side * side), side, side


def _norm_cfg(state_dict: Mapping, name: str, eps: float) -> dict:
    """RMSNorm, or LayerNorm when the source norm ``name`` has a bias."""
    norm_type = 'LN' if f'{name}.bias' in state_dict else 'RMSNorm'
    return dict(type=norm_type, eps=eps)


def architecture(state_dict: Mapping, num_heads: Optional[int] = None,
                 projector_heads: int = 16, img_size: int = 224) -> dict:
    """``VisionTransformer3D`` keyword arguments of converted weights.

    Args:
        state_dict (Mapping): Output of :func:`convert`.
        num_heads (int, optional): Attention heads of the blocks; None takes
            :data:`HEADS_BY_WIDTH`. Defaults to None.
        projector_heads (int): Heads of the attention-pooling projector.
            Defaults to 16.
        img_size (int): Input size of the position embedding. Defaults to 224.

    Returns:
        dict: JSON-ready arguments: ``arch`` (a name of
        ``VisionTransformer3D.arch_zoo`` when it matches, else a dict),
        ``img_size``, ``num_frames`` and the layout options, with the neutral
        training options of ``RESET_OPTIONS``.

    Raises:
        ValueError: Unknown width without ``num_heads``.
    """
    arch = block_architecture(state_dict, HEADS_BY_WIDTH, num_heads)
    for name, settings in VisionTransformer3D.arch_zoo.items():
        if len(name) > 1 and settings == arch:
            arch = name
            break
    proj = state_dict['patch_embed.proj.weight']  # [C, 3, tubelet, p, p]
    grid = [int(v) for v in state_dict['pos_embed_grid']]
    cfg = dict(
        arch=arch,
        img_size=img_size,
        num_frames=grid[0] * proj.shape[2],
        patch_size=proj.shape[-1],
        tubelet_size=proj.shape[2],
        in_channels=proj.shape[1],
        num_cls_tokens=state_dict['cls_token'].shape[1],
        qkv_bias='blocks.0.attn.qkv.bias' in state_dict,
        qk_norm=(_norm_cfg(state_dict, 'blocks.0.attn.q_norm', 1e-6)
                 if 'blocks.0.attn.q_norm.weight' in state_dict else None),
        qk_norm_across_heads=True,
        layer_scale_init_value=(1e-5 if 'blocks.0.ls1.gamma' in state_dict
                                else 0.),
        norm_cfg=_norm_cfg(state_dict, 'blocks.0.norm1', 1e-6),
        final_norm=False,
        patch_pixel_norm_cfg=(
            _norm_cfg(state_dict, 'patch_embed.pixel_norm', 1e-6)
            if 'patch_embed.pixel_norm.weight' in state_dict else None),
        patch_norm_cfg=(_norm_cfg(state_dict, 'patch_embed.norm', 1e-6)
                        if 'patch_embed.norm.weight' in state_dict else None),
        pos_embed_learnable=True,
        rescale_residual_init=True,
        projector_cfg=None,
    )
    if 'projector.cross_attn.proj.weight' in state_dict:
        cfg['projector_cfg'] = dict(
            num_heads=projector_heads,
            out_dims=state_dict['projector.cross_attn.proj.weight'].shape[0],
            qkv_bias='projector.cross_attn.q.bias' in state_dict,
            norm_cfg=_norm_cfg(state_dict, 'projector.norm1_q', 1e-5),
            query='mean')
    cfg.update(RESET_OPTIONS)
    return cfg


def load_state_dict(path: str) -> Mapping:
    """Weights of a ``.safetensors`` or torch file, unwrapped from the
    ``module`` / ``model`` / ``state_dict`` entry of a checkpoint."""
    state = load_state_dict_file(path)
    for key in CONTAINER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    return state


def summarize(rest: Mapping) -> str:
    """``'prefix (count), ...'`` of the entries left out."""
    counts = {}
    for key in rest:
        top = key.split('.')[0]
        counts[top] = counts.get(top, 0) + 1
    return ', '.join(f'{k} ({n})' for k, n in sorted(counts.items())) or \
        'nothing'


def write(state_dict: Mapping, arch: dict, out: str, source: str) -> str:
    """:func:`~mmivnext.utils.encoder_export.write_exported_encoder` with the
    source file in the metadata; returns the JSON path."""
    return write_exported_encoder(state_dict, arch, out, dict(source=source))


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared with ``internvideo_next_to_mmivnext``."""
    add_input_output_args(parser, 'source weights (.safetensors, or a torch '
                          'file read with weights_only=True)')
    parser.add_argument('--prefix', help='encoder key prefix, e.g. '
                        f'vision_encoder. (default: the first of {PREFIXES} '
                        'with a cls_token)')
    parser.add_argument('--num-heads', type=int, help='attention heads '
                        f'(default by width: {HEADS_BY_WIDTH})')
    parser.add_argument('--projector-heads', type=int, default=16,
                        help='heads of clip_projector (default: 16)')
    parser.add_argument('--img-size', type=int, default=224,
                        help='input size of the position embedding '
                        '(default: 224)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an InternVideo2 video encoder to '
        'VisionTransformer3D safetensors plus an architecture JSON.')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    check_input_output(args.src, args.out)
    try:
        source = load_state_dict(args.src)
        prefix = find_prefix(source) if args.prefix is None else args.prefix
        state_dict = convert(source, prefix, args.img_size)
        arch = architecture(state_dict, args.num_heads, args.projector_heads,
                            args.img_size)
        json_path = write(state_dict, arch, args.out, args.src)
    except (ValueError, KeyError) as err:
        raise exit_error(args.src, err) from err
    _, rest = split(source, prefix)
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}; left out: {summarize(rest)}')
    return args.out, json_path


if __name__ == '__main__':
    main()
