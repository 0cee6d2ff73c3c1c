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

The architecture is ``model.backbone`` of ``--config`` (the training
config) or, without it, the checkpoint's data-only record
``meta['encoder_architecture']`` (a dict of ``VisionTransformer3D``
arguments that training writes and ``stage1_to_stage2`` / ``publish_model``
outputs keep; checked to be plain data of known arguments). Nothing in the
checkpoint is ever run: it is read with weights-only loading, and config text
it may hold (``meta['cfg']``) is ignored; a checkpoint without the record
needs ``--config``. A checkpoint that cannot be read safely ends the tool
with ``error: <file>: <reason>``.

Only what defines the encoder is kept: ``type`` and ``init_cfg`` are
dropped, and the training-only options and output choices are reset to their
neutral values (:data:`RESET_OPTIONS`: no dropout or drop path, no activation
checkpointing, nothing frozen, the last layer's raw tokens); users pass their
own on top. Before writing, the weights are checked to fit the architecture
(names and shapes).
"""
import argparse
import os.path as osp
from collections import OrderedDict
from typing import Mapping

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)

from mmivnext.utils.checkpoint_io import load_state_dict_file
# The format's helpers live in the package (shared with the converters).
from mmivnext.utils.encoder_export import (  # noqa: F401
    ARCHITECTURE_META_KEY, BACKBONE_TYPES, DROPPED_KEYS, RESET_OPTIONS,
    add_input_output_args, check_fits, check_input_output, config_backbone,
    encoder_architecture, exit_error, recorded_architecture,
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


def architecture(checkpoint: Mapping, path: str, config=None) -> dict:
    """The encoder's ``VisionTransformer3D`` arguments: of ``config``'s
    ``model.backbone`` if given, else the checkpoint's
    ``meta['encoder_architecture']``.

    Raises:
        ValueError: No ``config`` and no (valid) record; the message says
            to pass ``--config CONFIG``.
    """
    if config is not None:
        return encoder_architecture(config_backbone(config))
    arch = recorded_architecture(checkpoint, path)
    if arch is None:
        raise ValueError(
            f"records no encoder architecture (meta['{ARCHITECTURE_META_KEY}"
            "']); pass the training config: --config CONFIG (config text in "
            "a checkpoint, meta['cfg'], is never run)")
    return arch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export the encoder of a checkpoint as safetensors plus '
        'a JSON of its VisionTransformer3D arguments.')
    add_input_output_args(parser, 'runner or stage1_to_stage2 checkpoint '
                          '(.pth)', source_name='checkpoint')
    parser.add_argument('--config', help='the training config, whose '
                        'model.backbone is the encoder (default: the '
                        "checkpoint's data-only record meta['"
                        f"{ARCHITECTURE_META_KEY}'])")
    parser.add_argument('--prefix', default='backbone.',
                        help="encoder key prefix (default: 'backbone.')")
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    check_input_output(args.checkpoint, args.out)
    if args.config is not None and not osp.isfile(args.config):
        raise SystemExit(f'error: {args.config}: no such config file')
    try:
        checkpoint = load_state_dict_file(args.checkpoint)
        state_dict = convert(checkpoint.get('state_dict', checkpoint),
                             args.prefix)
        arch = architecture(checkpoint, args.checkpoint, args.config)
        json_path = write_exported_encoder(
            state_dict, arch, args.out, dict(source=args.checkpoint))
    except (ValueError, TypeError, KeyError) as err:
        raise exit_error(args.checkpoint, err) from err
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}')
    return args.out, json_path


if __name__ == '__main__':
    main()
