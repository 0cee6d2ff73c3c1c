"""Turn a Stage-1 checkpoint into the initialisation of Stage 2.

Stage 2 (paper section 3.3) starts the student encoder, its predictor and the
frozen teacher from Stage 1. This keeps the ``backbone.*`` and ``predictor.*``
weights of a Stage-1 runner checkpoint and drops the rest (pixel and
alignment heads, optimizer, schedulers, message hub)::

    python tools/model_converters/stage1_to_stage2.py STAGE1_CKPT OUT

``STAGE1_CKPT`` is read with weights-only loading (nothing in it is run).
``OUT`` is a small MMEngine-style checkpoint ``{'state_dict', 'meta'}``
(``torch.load(..., weights_only=True)`` reads it), written atomically, used
as

* the student's init, e.g. ``backbone=dict(..., init_cfg=dict(
  type='Pretrained', checkpoint=OUT, prefix='backbone.'))`` and the same with
  ``prefix='predictor.'`` for the predictor;
* the teacher's weights:
  ``teacher=dict(type='FrozenVideoTeacher', backbone=..., checkpoint=OUT)``.

``meta`` records the source file and keeps the source's ``epoch``,
``iter`` and data-only architecture record ``encoder_architecture`` (checked
to be plain ``VisionTransformer3D`` arguments), so that ``export_encoder.py``
can read the architecture from ``OUT`` too. Config text (``meta['cfg']``) is
not carried over: no tool runs config text from a checkpoint.
"""
import argparse
import os.path as osp
from collections import OrderedDict
from typing import Mapping

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)

from mmivnext.utils.checkpoint_io import atomic_save, load_state_dict_file
from mmivnext.utils.encoder_export import (ARCHITECTURE_META_KEY, exit_error,
                                           recorded_architecture)

#: Prefixes of the weights Stage 2 starts from.
KEPT_PREFIXES = ('backbone.', 'predictor.')
#: Entries of the source's ``meta`` carried over (besides the checked
#: architecture record, :data:`ARCHITECTURE_META_KEY`). Never ``cfg``.
KEPT_META = ('epoch', 'iter', 'mmengine_version')


def convert(state_dict: Mapping) -> 'OrderedDict':
    """Keep the encoder and predictor weights of a Stage-1 state dict.

    Args:
        state_dict (Mapping): Stage-1 model weights (``backbone.*``,
            ``predictor.*``, ``pixel_head.*``, ``align_head.*``...).

    Returns:
        OrderedDict: The ``backbone.*`` and ``predictor.*`` entries, names
        unchanged. A Stage-1 model without a predictor (alignment only) gives
        ``backbone.*`` only.

    Raises:
        ValueError: No ``backbone.*`` weights.
    """
    if not any(k.startswith('backbone.') for k in state_dict):
        prefixes = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'no backbone.* weights, so not a Stage-1 model; '
                         f'its keys start with {prefixes}')
    return OrderedDict(
        (k, v) for k, v in state_dict.items() if k.startswith(KEPT_PREFIXES))


def write(state_dict: Mapping, dst: str, meta: dict) -> str:
    """Save a Stage-2 init: the ``backbone.`` / ``predictor.`` entries of
    ``state_dict`` (:func:`convert`, which also checks the encoder is there)
    as ``{'state_dict', 'meta'}`` to ``dst``, atomically; returns ``dst``."""
    converted = convert(state_dict)
    atomic_save(dict(state_dict=converted, meta=meta), dst)
    return dst


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Keep the encoder and predictor of a Stage-1 checkpoint '
        'as the Stage-2 init (student and frozen teacher).')
    parser.add_argument('src', help='Stage-1 runner checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'error: {args.src}: no such file')
    try:
        checkpoint = load_state_dict_file(args.src)
        state_dict = checkpoint.get('state_dict', checkpoint)
        converted = convert(state_dict)
        arch = recorded_architecture(checkpoint, args.src)
    except (ValueError, TypeError, AttributeError) as err:
        raise exit_error(args.src, err) from err
    if not any(k.startswith('predictor.') for k in converted):
        print(f'warning: {args.src} has no predictor.* weights; the Stage-2 '
              f'predictor cannot start from Stage 1.')
    source_meta = checkpoint.get('meta')
    if not isinstance(source_meta, Mapping):
        source_meta = {}
    meta = dict(converter='stage1_to_stage2', source=args.src)
    meta.update({k: source_meta[k] for k in KEPT_META if k in source_meta})
    if arch is not None:
        meta[ARCHITECTURE_META_KEY] = arch
    write(converted, args.dst, meta)
    kept = [p for p in KEPT_PREFIXES
            if any(k.startswith(p) for k in converted)]
    print(f'{args.dst}: kept {len(converted)} of {len(state_dict)} weights '
          f'({", ".join(kept)})')
    return args.dst


if __name__ == '__main__':
    main()
