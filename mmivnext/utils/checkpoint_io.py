"""Reading and writing checkpoint files safely: one home for both.

Every checkpoint mmivnext reads goes through :func:`load_checkpoint_file` (the
tools, the teachers, and MMEngine's loaders for local files and http(s) URLs,
:mod:`mmivnext.utils.compat` fix 7). Reading never runs code from a file: torch
files are read with ``torch.load(weights_only=True)`` (passed explicitly, so no
torch default or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn it off) and
``.safetensors`` files with ``safetensors`` (no pickle at all). A URL is
downloaded into torch hub's checkpoint cache first, then read as a file. Every
failure raises :class:`CheckpointLoadError` naming the file (and the URL).

Writing is atomic: the content goes to a temporary file in the target's folder,
is flushed and fsynced, then renamed over the target (``os.replace``) and the
folder is fsynced. A process killed at any moment leaves either the old file or
the complete new one, never a truncated one.
"""
import contextlib
import io
import os
import os.path as osp
import pickle
import tempfile
import zipfile
from typing import IO, Any, Iterator, Mapping, Optional
from urllib.parse import urlparse

import torch

#: Prefix of the temporary files :func:`atomic_write` creates (hidden, so that
#: no glob for ``*.pth`` picks one up).
TMP_PREFIX = '.tmp-'


class CheckpointLoadError(ValueError):
    """A checkpoint file cannot be read safely; the message names the file."""


def _describe(error: BaseException) -> str:
    """The error's type and its most telling line (for a refused pickle,
    torch's line naming the refused global)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines
               if 'GLOBAL' in line or 'WeightsUnpickler error' in line]
    line = (telling or lines or [''])[0]
    return f'{type(error).__name__}: {line}'.rstrip(': ')


def download_checkpoint(url: str, model_dir: Optional[str] = None) -> str:
    """The local copy of ``url`` in torch hub's checkpoint cache (where
    :func:`torch.hub.load_state_dict_from_url` keeps it), downloaded if it is
    not there. In a distributed run rank 0 downloads while the others wait.

    Args:
        url (str): An http(s) URL.
        model_dir (str, optional): The cache folder. Defaults to
            ``<torch.hub.get_dir()>/checkpoints``.

    Raises:
        CheckpointLoadError: The download fails; names the URL.
    """
    from torch.hub import download_url_to_file, get_dir
    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    path = osp.join(model_dir, osp.basename(urlparse(url).path))
    distributed = torch.distributed.is_available() and \
        torch.distributed.is_initialized()
    if (not distributed or torch.distributed.get_rank() == 0) and \
            not osp.isfile(path):
        os.makedirs(model_dir, exist_ok=True)
        try:  # into a temporary file, renamed once complete
            download_url_to_file(url, path, progress=False)
        except (OSError, ValueError, RuntimeError) as e:
            raise CheckpointLoadError(
                f'{url}: cannot be downloaded ({_describe(e)})') from e
    if distributed:
        torch.distributed.barrier()
    return path


def load_checkpoint_file(path: str, map_location: Any = 'cpu') -> Any:
    """Read a checkpoint file without running any code from it.

    Args:
        path (str): A ``.safetensors`` file, or a torch file (``.pth``,
            ``.pt``, ``.bin``...); or an http(s) URL of one
            (:func:`download_checkpoint`).
        map_location: As for :func:`torch.load`; for ``.safetensors`` a device
            string (other values load to the CPU). Defaults to ``'cpu'``.

    Returns:
        The file's content: a dict of tensors for ``.safetensors``; for torch
        files whatever weights-only unpickling rebuilds (dicts, lists,
        tensors, numbers, strings and the globals torch allows).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CheckpointLoadError: The file is not a readable checkpoint (a pickle
            with code or unknown globals, a truncated or corrupt archive, a
            non-safetensors file named ``.safetensors``), or a URL cannot be
            downloaded.
    """
    if str(path).startswith(('http://', 'https://')):
        local = download_checkpoint(path)  # its errors name the URL
        try:
            return load_checkpoint_file(local, map_location)
        except CheckpointLoadError as e:
            raise CheckpointLoadError(f'{path}: {e}') from e
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    if path.endswith('.safetensors'):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        device = map_location if isinstance(map_location, str) else 'cpu'
        try:
            return load_file(path, device=device)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointLoadError(
                f'{path}: not a readable safetensors file ({_describe(e)})'
            ) from e
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointLoadError(
            f'{path}: refused by weights-only loading, so nothing in it was '
            f'run; it holds objects other than tensors and plain data '
            f'({_describe(e)}). Load only checkpoints you trust to be data.'
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
            AttributeError, TypeError, KeyError, IndexError) as e:
        raise CheckpointLoadError(
            f'{path}: not a readable torch checkpoint (truncated, corrupt or '
            f'another format: {_describe(e)})') from e


def load_state_dict_file(path: str,
                         map_location: Any = 'cpu') -> Mapping:
    """:func:`load_checkpoint_file`, checked to hold a dict.

    Raises:
        CheckpointLoadError: The file holds something else (e.g. a list).
    """
    state = load_checkpoint_file(path, map_location)
    if not isinstance(state, Mapping):
        raise CheckpointLoadError(
            f'{path}: holds a {type(state).__name__}, not a checkpoint dict')
    return state


def fsync_dir(folder: str) -> None:
    """Make a rename or removal in ``folder`` durable (POSIX; a no-op where
    folders cannot be opened, e.g. on Windows)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Write ``path`` atomically: yields a file object of a temporary file
    in the same folder, which replaces ``path`` only once it is complete and
    on disk. On an exception the temporary file is removed and ``path`` is
    left as it was.

    Args:
        path (str): The file to write.
        mode (str): ``'wb'`` or ``'w'``. Defaults to ``'wb'``.
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'{TMP_PREFIX}{osp.basename(path)}.', dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    fsync_dir(folder)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write`."""
    with atomic_write(path) as f:
        f.write(data)


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_write`."""
    with atomic_write(path, 'w') as f:
        f.write(text)


def serialize(obj: Any) -> bytes:
    """``torch.save`` into bytes (for writers that take bytes)."""
    with io.BytesIO() as buffer:
        torch.save(obj, buffer)
        return buffer.getvalue()


def checkpoint_is_loadable(path: str) -> Optional[str]:
    """None if ``path`` loads with :func:`load_checkpoint_file` (onto the
    CPU), else the reason it does not (naming the file)."""
    try:
        load_checkpoint_file(path, map_location='cpu')
    except (FileNotFoundError, CheckpointLoadError) as e:
        return str(e)
    return None
