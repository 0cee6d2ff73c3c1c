"""Publish a runner checkpoint: weights and minimal meta, hash in the name.

::

    python tools/model_converters/publish_model.py IN_FILE OUT_FILE

reads ``IN_FILE`` with weights-only loading (nothing in it is run), keeps
the ``state_dict`` (without teacher weights) and the entries of ``meta`` in
:data:`PUBLISHED_META` (the data-only architecture record
``encoder_architecture``, the epoch and iteration, the MMEngine version, the
dataset meta); drops the config text (``meta['cfg']``: no tool runs config
text from a checkpoint), the optimizer state, the parameter schedulers, the
message hub, the EMA teacher (``'ema_teacher'``) and any other entry. It
writes ``<OUT_FILE without .pth>-<sha256[:8]>.pth``, the OpenMMLab naming,
readable with ``torch.load(..., weights_only=True)``.
"""
import argparse
import hashlib
import os.path as osp
from collections import OrderedDict
from typing import Mapping

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)

from mmivnext.utils.checkpoint_io import (atomic_write_bytes,
                                          load_state_dict_file, serialize)
from mmivnext.utils.encoder_export import (ARCHITECTURE_META_KEY, exit_error,
                                           recorded_architecture)

#: Entries of ``meta`` kept in published checkpoints (never ``cfg``, config
#: text; the architecture is kept as data, :data:`ARCHITECTURE_META_KEY`).
PUBLISHED_META = (ARCHITECTURE_META_KEY, 'dataset_meta', 'epoch', 'iter',
                  'mmengine_version', 'experiment_name', 'time')
#: State-dict prefixes of teachers (frozen or EMA), never published.
TEACHER_PREFIXES = ('teacher.', )


def publish(checkpoint: Mapping) -> dict:
    """The publishable part of a runner checkpoint.

    Args:
        checkpoint (Mapping): ``{'meta', 'state_dict', 'message_hub',
            'optimizer', 'param_schedulers', ...}``.

    Returns:
        dict: ``{'meta': <PUBLISHED_META entries>, 'state_dict': <weights
        without teacher.* keys>}``.

    Raises:
        ValueError: No ``state_dict``.
    """
    if 'state_dict' not in checkpoint:
        raise ValueError(f'no state_dict; the entries are '
                         f'{sorted(checkpoint)}')
    state_dict = OrderedDict(
        (k, v) for k, v in checkpoint['state_dict'].items()
        if not k.startswith(TEACHER_PREFIXES))
    meta = checkpoint.get('meta') or {}
    return dict(meta={k: meta[k] for k in PUBLISHED_META if k in meta},
                state_dict=state_dict)


def save_published(checkpoint: Mapping, out_file: str) -> str:
    """Save ``checkpoint`` as ``<out_file without .pth>-<sha256[:8]>.pth``
    and return that path."""
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    data = serialize(checkpoint)
    final_file = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    atomic_write_bytes(data, final_file)  # fsynced, then renamed
    return final_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Strip a runner checkpoint to its weights and minimal '
        'meta, and name it with its hash.')
    parser.add_argument('in_file', help='runner checkpoint')
    parser.add_argument('out_file', help='output name; the hash is added')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if not osp.isfile(args.in_file):
        raise SystemExit(f'error: {args.in_file}: no such file')
    try:
        checkpoint = load_state_dict_file(args.in_file)
        recorded_architecture(checkpoint, args.in_file)  # checked if there
        published = publish(checkpoint)
    except (ValueError, TypeError, AttributeError) as err:
        raise exit_error(args.in_file, err) from err
    final_file = save_published(published, args.out_file)
    print(f'{final_file}: {len(published["state_dict"])} weights')
    return final_file


if __name__ == '__main__':
    main()
