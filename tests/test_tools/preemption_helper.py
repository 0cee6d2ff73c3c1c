"""Test helper loaded into tools/train.py runs through ``custom_imports``.

Stops the process at one phase of a checkpoint save, so that a test can kill
it there with SIGKILL as a cluster pre-empts a job. ``BLOCK_PHASE`` names the
phase, ``BLOCK_AT`` which save (1-based) blocks, ``BLOCK_SIGNAL`` the file
written when the process is blocked:

* ``write``: half of the checkpoint's bytes are written;
* ``rename``: the complete temporary file is about to replace the target;
* ``pointer``: the checkpoint is in place, ``last_checkpoint`` not yet updated;
* ``rotate``: an outdated checkpoint is about to be removed.
"""
import os
import os.path as osp
import time

from mmengine.fileio.backends import LocalBackend

import mmivnext.engine.hooks.atomic_checkpoint_hook as hook_module
from mmivnext.utils.checkpoint_io import TMP_PREFIX

PHASE = os.environ.get('BLOCK_PHASE')
AT = int(os.environ.get('BLOCK_AT', '1'))
SIGNAL = os.environ.get('BLOCK_SIGNAL')
_counts = {}


def _block_here(phase: str) -> None:
    """Signal and wait to be killed on the ``BLOCK_AT``-th call of a phase."""
    if phase != PHASE:
        return
    _counts[phase] = _counts.get(phase, 0) + 1
    if _counts[phase] == AT:
        with open(SIGNAL, 'w') as f:
            f.write(phase)
        while True:
            time.sleep(1)


_put = LocalBackend.put


def put(self, obj, filepath):
    if PHASE == 'write' and osp.basename(str(filepath)).startswith(
            TMP_PREFIX):
        _counts['write'] = _counts.get('write', 0) + 1
        if _counts['write'] == AT:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            with open(SIGNAL, 'w') as f:
                f.write('write')
            while True:
                time.sleep(1)
    return _put(self, obj, filepath)


_replace = os.replace


def replace(src, dst):
    if osp.basename(str(src)).startswith(TMP_PREFIX) and \
            str(dst).endswith('.pth'):
        _block_here('rename')
    return _replace(src, dst)


_write_text = hook_module.atomic_write_text


def write_text(text, path):
    _block_here('pointer')
    return _write_text(text, path)


_remove = LocalBackend.remove


def remove(self, filepath):
    if str(filepath).endswith('.pth'):
        _block_here('rotate')
    return _remove(self, filepath)


if PHASE:
    LocalBackend.put = put
    LocalBackend.remove = remove
    os.replace = replace
    hook_module.atomic_write_text = write_text
