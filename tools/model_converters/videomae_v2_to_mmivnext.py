"""Convert a VideoMAE v2 ViT to ``VisionTransformer3D`` weights + architecture.

::

    python tools/model_converters/videomae_v2_to_mmivnext.py SRC OUT.safetensors \\
        [--num-frames 16] [--img-size 224] [--num-heads H]

reads ``SRC`` (``.safetensors``, or a torch file loaded with
``weights_only=True``) and writes ``OUT.safetensors`` and ``OUT.json``, the
``VisionTransformer3D`` keyword arguments, so that::

    encoder = VisionTransformer3D(**json.load(open('OUT.json')), init_cfg=dict(
        type='Pretrained', checkpoint='OUT.safetensors'))
    encoder.init_weights()

computes what VideoMAE v2 (GitHub ``OpenGVLab/VideoMAEv2``,
``models/modeling_finetune.py``, ``VisionTransformer``) computes: with
``out_type='raw'`` the tokens before the pooling, with
``out_type='avg_featmap'`` its ``forward_features`` (mean of the tokens, then
``fc_norm``).

The source layout, and how it maps:

* ``patch_embed.proj`` (``Conv3d``, kernel = stride = ``(tubelet, p, p)``):
  same name; ``tubelet`` and ``p`` are read from its shape.
* Position embedding: by default a fixed 1-D sinusoid table over the flattened
  ``(t, h, w)`` token index (``get_sinusoid_encoding_table``, not a
  parameter, so not in the checkpoint). It is written here as ``pos_embed``
  for the grid of ``num_frames`` x ``img_size`` and the encoder is built with
  ``pos_embed_type='sinusoid_1d'``, ``pos_embed_learnable=False`` (the table is
  rebuilt, not interpolated, for inputs of another size). A checkpoint of a
  model with ``use_learnable_pos_emb`` has ``pos_embed [1, N, C]``, which is
  kept (``pos_embed_learnable=True``).
* No cls token (``num_cls_tokens=0``).
* ``blocks.i``: ``norm1`` / ``norm2`` (LayerNorm eps 1e-6), ``attn.qkv.weight``
  without bias plus ``attn.q_bias`` / ``attn.v_bias`` (keys have no bias), our
  ``attn.qkv.bias = cat(q_bias, 0, v_bias)``; ``attn.proj``, ``mlp.fc1`` /
  ``mlp.fc2`` keep their names; LayerScale ``gamma_1`` / ``gamma_2`` (models
  with ``init_values > 0``) become ``ls1.gamma`` / ``ls2.gamma``. The
  attention scale is ``head_dims ** -0.5`` (no ``qk_scale`` is stored, and the
  released models use none).
* ``fc_norm`` (mean pooling, ``use_mean_pooling=True``, where ``norm`` is the
  identity): same name, ``fc_norm=True, final_norm=False``. A model without
  mean pooling has ``norm`` instead: ``final_norm=True``.
* ``head.*`` (the fine-tuned classifier) is dropped: this is an encoder
  converter; probes bring their own heads.
* Pre-training checkpoints (``modeling_pretrain``) hold the encoder under
  ``encoder.`` next to ``decoder.*``, ``encoder_to_decoder`` and
  ``mask_token``: the encoder is taken, the decoder parts dropped.

The state dict may be nested under ``model`` / ``module`` (as VideoMAE v2's
checkpoints are). The number of heads is not in the weights: it is taken from
the width (:data:`HEADS_BY_WIDTH`: ViT-S/B/L/H/g) unless ``--num-heads`` is
given. Any other key is an error that names it.
"""
import argparse
import json
import re
from collections import OrderedDict
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch

from mmivnext.models.utils.pos_embed import get_1d_sinusoid_table
from mmivnext.utils.checkpoint_io import load_state_dict_file
from mmivnext.utils.encoder_export import (RESET_OPTIONS,
                                           add_input_output_args,
                                           block_architecture,
                                           check_input_output, exit_error,
                                           write_exported_encoder)


#: Heads of the VideoMAE v2 ViTs by width: S, B, L, H, g.
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}
#: Keys of VideoMAE v2 checkpoints that hold the weights.
NESTING_KEYS = ('model', 'module', 'state_dict')
#: Dropped parts: the classifier (fine-tuned) and the decoder (pre-trained).
DROPPED = re.compile(r'^(head\.|decoder\.|encoder_to_decoder\.|mask_token$)')
#: Block keys renamed (source suffix -> ours); others keep their names.
BLOCK_RENAMES = {'gamma_1': 'ls1.gamma', 'gamma_2': 'ls2.gamma'}
BLOCK_KEPT = ('norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias',
              'attn.qkv.weight', 'attn.proj.weight', 'attn.proj.bias',
              'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight',
              'mlp.fc2.bias')
TOP_KEPT = ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'pos_embed',
            'norm.weight', 'norm.bias', 'fc_norm.weight', 'fc_norm.bias')


def unwrap(checkpoint: Mapping) -> Mapping:
    """The weights of a checkpoint, looking inside ``model`` / ``module`` /
    ``state_dict`` entries (nested any number of times)."""
    while True:
        inner = [checkpoint[k] for k in NESTING_KEYS
                 if isinstance(checkpoint.get(k), Mapping)]
        if not inner:
            return checkpoint
        checkpoint = inner[0]


def _grid(state_dict: Mapping, num_frames: int,
          img_size: Union[int, Sequence[int]]) -> Tuple[int, int, int]:
    """The ``(T', H', W')`` token grid of the patch embedding's kernel."""
    weight = state_dict['patch_embed.proj.weight']  # [C, 3, tubelet, p, p]
    tubelet, patch = weight.shape[2], weight.shape[3]
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    if num_frames % tubelet or h % patch or w % patch:
        raise ValueError(
            f'num_frames {num_frames} / img_size {(h, w)} do not split into '
            f'the ({tubelet}, {patch}, {patch}) patches of '
            f'patch_embed.proj.weight {tuple(weight.shape)}')
    return num_frames // tubelet, h // patch, w // patch


def convert(state_dict: Mapping, num_frames: int = 16,
            img_size: Union[int, Sequence[int]] = 224) -> 'OrderedDict':
    """VideoMAE v2 encoder weights in ``VisionTransformer3D`` names.

    Args:
        state_dict (Mapping): A VideoMAE v2 ``VisionTransformer`` state dict
            (fine-tuned, optionally nested under ``model`` / ``module``), or a
            pre-training one (encoder under ``encoder.``).
        num_frames (int): Frames ``T`` the fixed position table is made for.
            Defaults to 16.
        img_size (int | Sequence[int]): Input size ``H`` or ``(H, W)`` the
            table is made for. Defaults to 224.

    Returns:
        OrderedDict: The encoder's weights, with ``pos_embed`` (the checkpoint's
        learnable one, or the fixed sinusoid table) and ``pos_embed_grid``.
        ``head.*`` and pre-training decoder parts are dropped.

    Raises:
        ValueError: A key is not part of the layout (named), or the
            position embedding does not fit the grid.
        KeyError: ``patch_embed.proj.weight`` is missing.
    """
    state_dict = unwrap(state_dict)
    if any(k.startswith('encoder.') for k in state_dict):
        state_dict = {k[len('encoder.'):] if k.startswith('encoder.') else k: v
                      for k, v in state_dict.items()}
    if 'patch_embed.proj.weight' not in state_dict:
        raise KeyError(f'patch_embed.proj.weight not found: this is not a '
                       f'VideoMAE v2 ViT (keys start with '
                       f'{sorted({k.split(".")[0] for k in state_dict})})')
    grid = _grid(state_dict, num_frames, img_size)
    out, unknown = OrderedDict(), []
    block_biases = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r'blocks\.(\d+)\.(.+)', key)
        if DROPPED.match(key):
            continue
        if key in TOP_KEPT:
            out[key] = value
        elif match and match.group(2) in BLOCK_KEPT:
            out[key] = value
        elif match and match.group(2) in BLOCK_RENAMES:
            out[f'blocks.{match.group(1)}.{BLOCK_RENAMES[match.group(2)]}'] = \
                value
        elif match and match.group(2) in ('attn.q_bias', 'attn.v_bias'):
            block_biases.setdefault(match.group(1), {})[match.group(2)] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'keys not in the VideoMAE v2 layout: {unknown}')
    for i, biases in block_biases.items():
        if len(biases) != 2:
            raise ValueError(f'blocks.{i}.attn has {sorted(biases)} but needs '
                             f'both q_bias and v_bias')
        q_bias, v_bias = biases['attn.q_bias'], biases['attn.v_bias']
        out[f'blocks.{i}.attn.qkv.bias'] = torch.cat(
            [q_bias, torch.zeros_like(q_bias), v_bias])  # [3C], k: no bias

    embed_dims = state_dict['patch_embed.proj.weight'].shape[0]
    num_patches = grid[0] * grid[1] * grid[2]
    if 'pos_embed' in out:
        if tuple(out['pos_embed'].shape) != (1, num_patches, embed_dims):
            raise ValueError(
                f'pos_embed {tuple(out["pos_embed"].shape)} does not fit the '
                f'token grid {grid} of {num_frames} frames at {img_size} px; '
                f'give the size the model was trained at')
    else:
        out['pos_embed'] = get_1d_sinusoid_table(
            num_patches, embed_dims).unsqueeze(0)  # [1, N, C]
    out['pos_embed_grid'] = torch.tensor(grid, dtype=torch.int64)
    return OrderedDict((k, v.contiguous()) for k, v in out.items())


def architecture(state_dict: Mapping, num_frames: int = 16,
                 img_size: Union[int, Sequence[int]] = 224,
                 num_heads: Optional[int] = None,
                 pos_embed_learnable: bool = False) -> dict:
    """``VisionTransformer3D`` keyword arguments of converted weights.

    Args:
        state_dict (Mapping): Output of :func:`convert`.
        num_frames (int): As given to :func:`convert`. Defaults to 16.
        img_size (int | Sequence[int]): As given to :func:`convert`.
            Defaults to 224.
        num_heads (int, optional): Attention heads; None reads them from
            :data:`HEADS_BY_WIDTH`. Defaults to None.
        pos_embed_learnable (bool): Whether the source had a learnable
            ``pos_embed``. Defaults to False.

    Returns:
        dict: JSON-ready keyword arguments, with ``export_encoder``'s neutral
        training and output options (``out_type='raw'``; pass
        ``out_type='avg_featmap'`` for VideoMAE v2's pooled feature).

    Raises:
        ValueError: The number of heads is unknown for this width.
    """
    proj = state_dict['patch_embed.proj.weight']  # [C, 3, tubelet, p, p]
    arch = dict(
        arch=block_architecture(state_dict, HEADS_BY_WIDTH, num_heads),
        img_size=img_size if isinstance(img_size, int) else list(img_size),
        num_frames=num_frames,
        patch_size=proj.shape[3],
        tubelet_size=proj.shape[2],
        in_channels=proj.shape[1],
        num_cls_tokens=0,
        qkv_bias='blocks.0.attn.qkv.bias' in state_dict,
        layer_scale_init_value=1e-5 if 'blocks.0.ls1.gamma' in state_dict
        else 0.,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm='norm.weight' in state_dict,
        fc_norm='fc_norm.weight' in state_dict,
        pos_embed_type='sinusoid_1d',
        pos_embed_learnable=pos_embed_learnable,
    )
    arch.update(RESET_OPTIONS)  # out_type 'raw': the tokens
    return json.loads(json.dumps(arch))  # plain ints, lists


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a VideoMAE v2 ViT to VisionTransformer3D '
        'safetensors plus an architecture JSON.')
    add_input_output_args(parser, 'VideoMAE v2 checkpoint (.pth / .pt / '
                          '.safetensors)')
    parser.add_argument('--num-frames', type=int, default=16,
                        help='input frames of the position table (default 16)')
    parser.add_argument('--img-size', type=int, default=224,
                        help='input size of the position table (default 224)')
    parser.add_argument('--num-heads', type=int, help='attention heads '
                        '(default: from the width, ViT-S/B/L/H/g)')
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    check_input_output(args.src, args.out)
    try:
        source = unwrap(load_state_dict_file(args.src))
        learnable = 'pos_embed' in source or 'encoder.pos_embed' in source
        state_dict = convert(source, args.num_frames, args.img_size)
        arch = architecture(state_dict, args.num_frames, args.img_size,
                            args.num_heads, learnable)
        json_path = write_exported_encoder(state_dict, arch, args.out,
                                           dict(source=args.src))
    except (ValueError, KeyError) as err:
        raise exit_error(args.src, err) from err
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}')
    return args.out, json_path


if __name__ == '__main__':
    main()
