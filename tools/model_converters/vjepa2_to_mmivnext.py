"""Convert a V-JEPA 2 video encoder to ``VisionTransformer3D`` weights +
architecture.

::

    python tools/model_converters/vjepa2_to_mmivnext.py SRC OUT.safetensors \\
        [--checkpoint-key target_encoder] [--num-frames 64] [--img-size 256] \\
        [--num-heads H]

reads ``SRC`` (``.safetensors``, or a torch file loaded with
``weights_only=True``) and writes ``OUT.safetensors`` and ``OUT.json``, the
``VisionTransformer3D`` keyword arguments, so that::

    encoder = VisionTransformer3D(**json.load(open('OUT.json')), init_cfg=dict(
        type='Pretrained', checkpoint='OUT.safetensors'))
    encoder.init_weights()

computes with ``out_type='raw'`` what V-JEPA 2's encoder (GitHub
``facebookresearch/vjepa2``, ``src/models/vision_transformer.py``,
``VisionTransformer`` with ``use_rope=True``) returns: the patch tokens after
the final ``norm``; with ``visible_indices`` what it returns for ``masks``
(the indices of the kept tokens).

The source layout, and how it maps:

* A V-JEPA 2 checkpoint holds ``encoder`` (the online encoder),
  ``target_encoder`` (its EMA), ``predictor``, ``opt``...; each encoder's keys
  start with ``module.backbone.``. The encoder is chosen with
  ``checkpoint_key`` (``--checkpoint-key``): ``target_encoder`` by default, as
  V-JEPA 2's evaluations and its ``torch.hub`` loaders
  (``src/hub/backbones.py``, ``checkpoint_key='target_encoder'``) use. The
  ``module.`` / ``backbone.`` prefixes are stripped; a bare encoder state dict
  (without those entries) is taken as it is.
* ``patch_embed.proj`` (``Conv3d``, kernel = stride = ``(tubelet, p, p)``,
  patch 16, tubelet 2 in the released models): same name; ``tubelet`` and
  ``p`` are read from its shape.
* No cls token (``num_cls_tokens=0``) and no absolute position embedding: the
  attention of every block applies a 3D rotary embedding (``RoPEAttention``),
  ``pos_embed_type='rope_3d'`` here (:mod:`mmivnext.models.utils.rope`, which
  reproduces its arithmetic). A ``pos_embed`` entry, if any, is unused by the
  RoPE models and dropped. ``num_frames`` / ``img_size`` of the JSON only set
  the nominal input size: RoPE positions are computed for every input.
* ``blocks.i``: ``norm1`` / ``norm2`` (LayerNorm eps 1e-6), ``attn.qkv``
  (with bias), ``attn.proj``, ``mlp.fc1`` / ``mlp.fc2`` (GELU): same names; no
  LayerScale; attention scale ``head_dims ** -0.5``.
* ``norm`` (final LayerNorm, eps 1e-6): same name, ``final_norm=True``.

The number of heads is not in the weights: it is taken from the width
(:data:`HEADS_BY_WIDTH`: V-JEPA 2's ViT-B/L/H, ViT-g as ``vit_giant_xformers``
with 22 heads, ViT-G ``vit_gigantic_xformers``) unless ``--num-heads`` is given
(e.g. 16 for a ``vit_giant`` model). Any other key (SwiGLU MLPs, image-only
2D patch embeddings, action tokens...) is an error that names it.
"""
import argparse
import json
import re
from collections import OrderedDict
from typing import Mapping, Optional, Sequence, Union


from mmivnext.utils.checkpoint_io import load_state_dict_file
from mmivnext.utils.encoder_export import (RESET_OPTIONS,
                                           add_input_output_args,
                                           block_architecture,
                                           check_input_output, exit_error,
                                           write_exported_encoder)


#: Heads of the V-JEPA 2 RoPE ViTs by width: B, L, H, g (xformers), G.
HEADS_BY_WIDTH = {768: 12, 1024: 16, 1280: 16, 1408: 22, 1664: 26}
#: Encoder entries of a V-JEPA 2 checkpoint.
CHECKPOINT_KEYS = ('target_encoder', 'encoder')
#: Prefixes of V-JEPA 2's (DDP-wrapped, multi-backbone) encoder keys.
PREFIXES = ('module.', 'backbone.')
BLOCK_KEPT = ('norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias',
              'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight',
              'attn.proj.bias', 'mlp.fc1.weight', 'mlp.fc1.bias',
              'mlp.fc2.weight', 'mlp.fc2.bias')
TOP_KEPT = ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'norm.weight',
            'norm.bias')
#: Unused by the RoPE encoders (V-JEPA 2's loaders ignore it too).
DROPPED = ('pos_embed', )


def select_encoder(checkpoint: Mapping,
                   checkpoint_key: str = 'target_encoder') -> Mapping:
    """The encoder weights of a V-JEPA 2 checkpoint, prefixes stripped.

    Args:
        checkpoint (Mapping): A V-JEPA 2 training checkpoint (with
            ``encoder`` / ``target_encoder`` entries), or an encoder state
            dict.
        checkpoint_key (str): The entry to take, ``'target_encoder'`` or
            ``'encoder'``. Defaults to ``'target_encoder'``.

    Returns:
        Mapping: The encoder state dict without ``module.`` / ``backbone.``.

    Raises:
        ValueError: ``checkpoint_key`` is unknown, or the checkpoint has
            encoder entries but not this one.
    """
    if checkpoint_key not in CHECKPOINT_KEYS:
        raise ValueError(f'checkpoint_key must be one of {CHECKPOINT_KEYS}, '
                         f'got {checkpoint_key!r}')
    entries = [k for k in CHECKPOINT_KEYS
               if isinstance(checkpoint.get(k), Mapping)]
    if entries:
        if checkpoint_key not in entries:
            raise ValueError(f'the checkpoint has no {checkpoint_key!r} '
                             f'entry (it has {entries})')
        checkpoint = checkpoint[checkpoint_key]
    out = OrderedDict()
    for key, value in checkpoint.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


def convert(state_dict: Mapping,
            checkpoint_key: str = 'target_encoder') -> 'OrderedDict':
    """V-JEPA 2 encoder weights in ``VisionTransformer3D`` names.

    Args:
        state_dict (Mapping): A V-JEPA 2 checkpoint or encoder state dict
            (see :func:`select_encoder`).
        checkpoint_key (str): Encoder entry of a checkpoint,
            ``'target_encoder'`` (EMA; default) or ``'encoder'``.

    Returns:
        OrderedDict: The encoder's weights (``pos_embed`` dropped).

    Raises:
        ValueError: A key is not part of the layout (named), or the patch
            embedding is not a 3D (video) one.
        KeyError: ``patch_embed.proj.weight`` is missing.
    """
    state_dict = select_encoder(state_dict, checkpoint_key)
    if 'patch_embed.proj.weight' not in state_dict:
        raise KeyError(f'patch_embed.proj.weight not found: this is not a '
                       f'V-JEPA 2 encoder (keys start with '
                       f'{sorted({k.split(".")[0] for k in state_dict})})')
    proj = state_dict['patch_embed.proj.weight']
    if proj.dim() != 5:
        raise ValueError(f'patch_embed.proj.weight {tuple(proj.shape)} is not '
                         f'a Conv3d (tubelet) kernel: only video encoders '
                         f'(num_frames > 1) are supported')
    out, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        match = re.fullmatch(r'blocks\.(\d+)\.(.+)', key)
        if key in DROPPED:
            continue
        if key in TOP_KEPT or (match and match.group(2) in BLOCK_KEPT):
            out[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'keys not in the V-JEPA 2 encoder layout: {unknown}')
    return OrderedDict((k, v.contiguous()) for k, v in out.items())


def architecture(state_dict: Mapping, num_frames: int = 64,
                 img_size: Union[int, Sequence[int]] = 256,
                 num_heads: Optional[int] = None) -> dict:
    """``VisionTransformer3D`` keyword arguments of converted weights.

    Args:
        state_dict (Mapping): Output of :func:`convert`.
        num_frames (int): Nominal input frames (V-JEPA 2's pre-training: 64).
            Defaults to 64.
        img_size (int | Sequence[int]): Nominal input size ``H`` or
            ``(H, W)``. Defaults to 256.
        num_heads (int, optional): Attention heads; None reads them from
            :data:`HEADS_BY_WIDTH`. Defaults to None.

    Returns:
        dict: JSON-ready keyword arguments, with ``export_encoder``'s neutral
        training and output options (``out_type='raw'``: the tokens).

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
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm='norm.weight' in state_dict,
        pos_embed_type='rope_3d',
    )
    arch.update(RESET_OPTIONS)  # out_type 'raw': the tokens
    return json.loads(json.dumps(arch))  # plain ints, lists


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a V-JEPA 2 video encoder to VisionTransformer3D '
        'safetensors plus an architecture JSON.')
    add_input_output_args(parser, 'V-JEPA 2 checkpoint (.pt / .pth / '
                          '.safetensors)')
    parser.add_argument('--checkpoint-key', default='target_encoder',
                        choices=CHECKPOINT_KEYS,
                        help='encoder entry of the checkpoint (default '
                        'target_encoder, the EMA encoder V-JEPA 2 evaluates)')
    parser.add_argument('--num-frames', type=int, default=64,
                        help='nominal input frames (default 64)')
    parser.add_argument('--img-size', type=int, default=256,
                        help='nominal input size (default 256)')
    parser.add_argument('--num-heads', type=int, help='attention heads '
                        '(default: from the width, ViT-B/L/H/g/G)')
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    check_input_output(args.src, args.out)
    try:
        state_dict = convert(load_state_dict_file(args.src),
                             args.checkpoint_key)
        arch = architecture(state_dict, args.num_frames, args.img_size,
                            args.num_heads)
        json_path = write_exported_encoder(
            state_dict, arch, args.out,
            dict(source=args.src, checkpoint_key=args.checkpoint_key))
    except (ValueError, KeyError) as err:
        raise exit_error(args.src, err) from err
    print(f'{args.out}: {len(state_dict)} encoder weights ('
          f'{args.checkpoint_key}); architecture in {json_path}')
    return args.out, json_path


if __name__ == '__main__':
    main()
