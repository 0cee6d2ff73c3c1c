"""Publish a runner checkpoint: weights and minimal meta, hash in the name.

::

    python tools/model_converters/publish_model.py IN_FILE OUT_FILE

keeps the ``state_dict`` (without teacher weights) and the entries of
``meta`` in :data:`PUBLISHED_META` (the config text, the epoch and iteration,
the MMEngine version, the dataset meta); drops the optimizer state, the
parameter schedulers, the message hub, the EMA teacher (``'ema_teacher'``)
and any other entry. It writes ``<OUT_FILE without .pth>-<sha256[:8]>.pth``,
the OpenMMLab naming, readable with ``torch.load(..., weights_only=True)``.
"""
import argparse
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Mapping

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)
import torch

#: Entries of ``meta`` kept in published checkpoints.
PUBLISHED_META = ('cfg', 'dataset_meta', 'epoch', 'iter', 'mmengine_version',
                  'experiment_name', 'time')
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
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    tmp_file = stem + '.pth.tmp'
    torch.save(checkpoint, tmp_file)
    sha = hashlib.sha256()
    with open(tmp_file, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            sha.update(block)
    final_file = f'{stem}-{sha.hexdigest()[:8]}.pth'
    os.replace(tmp_file, final_file)
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
    checkpoint = torch.load(args.in_file, map_location='cpu',
                            weights_only=True)
    try:
        published = publish(checkpoint)
    except ValueError as err:
        raise SystemExit(f'error: {args.in_file}: {err}') from err
    final_file = save_published(published, args.out_file)
    print(f'{final_file}: {len(published["state_dict"])} weights')
    return final_file


if __name__ == '__main__':
    main()
