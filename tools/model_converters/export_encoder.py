"""Export the encoder of a checkpoint: safetensors weights + architecture JSON.

::

    python tools/model_converters/export_encoder.py CHECKPOINT OUT.safetensors \\
        [--config CONFIG] [--prefix backbone.]

writes ``OUT.safetensors`` (the encoder's weights, names without ``prefix``)
and ``OUT.json`` (the ``VisionTransformer3D`` keyword arguments that rebuild
it), so that::

    arch = json.load(open('OUT.json'))
    encoder = VisionTransformer3D(**arch, init_cfg=dict(
        type='Pretrained', checkpoint='OUT.safetensors'))
    encoder.init_weights()

gives the encoder back: once ``mmivnext`` is imported, MMEngine reads local
``.safetensors`` files with ``safetensors`` on every torch version (see
:mod:`mmivnext.utils.compat`). The same file is a ``FrozenVideoTeacher``
checkpoint with ``prefix=''``.

The architecture is the checkpoint's ``model.backbone``, read from its
``meta['cfg']`` (the config text MMEngine's runner saves; ``stage1_to_stage2``
outputs keep it), or from ``--config``. Only what defines the encoder is
kept: ``type`` and ``init_cfg`` are dropped, and the training-only options
and output choices are reset to their neutral values (:data:`RESET_OPTIONS`:
no dropout or drop path, no activation checkpointing, nothing frozen, the
last layer's raw tokens); users pass their own on top. Before writing, the
weights are checked to fit the architecture (names and shapes).
"""
import argparse
from collections import OrderedDict
from typing import Mapping

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)
import torch

# The format's helpers live in the package (shared with the converters).
from mmivnext.utils.encoder_export import (  # noqa: F401
    BACKBONE_TYPES, DROPPED_KEYS, RESET_OPTIONS, add_input_output_args,
    check_fits, check_input_output, encoder_architecture, read_backbone_cfg,
    write_exported_encoder)


def convert(state_dict: Mapping, prefix: str = 'backbone.') -> 'OrderedDict':
    """The encoder's weights of a model's state dict, ``prefix`` removed.

    Args:
        state_dict (Mapping): Model weights (``backbone.*``, heads...).
        prefix (str): Prefix of the encoder's keys. Defaults to
            ``'backbone.'``.

    Returns:
        OrderedDict: ``{name: tensor}`` with names as in
        ``VisionTransformer3D.state_dict()``, tensors contiguous.

    Raises:
        ValueError: No key starts with ``prefix``.
    """
    encoder = OrderedDict((k[len(prefix):], v.contiguous())
                          for k, v in state_dict.items()
                          if k.startswith(prefix))
    if not encoder:
        prefixes = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'no weights with the prefix {prefix!r}; the keys '
                         f'start with {prefixes}')
    return encoder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export the encoder of a checkpoint as safetensors plus '
        'a JSON of its VisionTransformer3D arguments.')
    add_input_output_args(parser, 'runner or stage1_to_stage2 checkpoint '
                          '(.pth)', source_name='checkpoint')
    parser.add_argument('--config', help="config whose model.backbone is the "
                        "encoder (default: the checkpoint's meta['cfg'])")
    parser.add_argument('--prefix', default='backbone.',
                        help="encoder key prefix (default: 'backbone.')")
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    check_input_output(args.checkpoint, args.out)
    checkpoint = torch.load(args.checkpoint, map_location='cpu',
                            weights_only=True)
    try:
        state_dict = convert(checkpoint.get('state_dict', checkpoint),
                             args.prefix)
        arch = encoder_architecture(read_backbone_cfg(checkpoint, args.config))
        json_path = write_exported_encoder(
            state_dict, arch, args.out, dict(source=args.checkpoint))
    except (ValueError, TypeError, KeyError) as err:
        raise SystemExit(f'error: {args.checkpoint}: {err}') from err
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}')
    return args.out, json_path


if __name__ == '__main__':
    main()
