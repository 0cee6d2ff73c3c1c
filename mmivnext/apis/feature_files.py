"""The files of a feature extraction: outputs, manifest and settings.

Outputs
-------
Under the output folder, named after the video's name without its extension
(``train/a.mp4`` -> ``train/a.safetensors`` with keys ``pooled`` and/or
``tokens``, or ``train/a.pooled.npy`` and ``train/a.tokens.npy``), float32.
Each file is written atomically (a temporary file in the same folder,
fsynced, renamed over the target, the folder fsynced:
:func:`mmivnext.utils.checkpoint_io.atomic_write`).

With sliding windows, a video's file also holds ``window_frames``
(``[W, 2]`` int64 start and end frames, end exclusive) and
``window_seconds`` (``[W, 2]`` float64), and ``pooled`` / ``tokens`` get a
leading ``[W]`` axis (:data:`WINDOW_KEYS`).

Manifest and resuming
---------------------
``manifest.jsonl`` (:data:`MANIFEST`) gets one JSON line per video once its
files are written: ``video``, ``filename``, ``status`` (``'done'`` with
``outputs`` and ``shapes``, or ``'failed'`` with ``error``). The line is
appended and fsynced after the rename, so an interrupted run loses at most
the batch in flight. A rerun skips the videos whose latest line says ``done``
and whose files pass :func:`output_problem` (:func:`is_done`), and does the
rest (failed videos are tried again).

Shards
------
``--shard i/n`` extracts every ``n``-th video from the ``i``-th
(:func:`shard_videos`) and appends to its own manifest,
``manifest.shard-i-of-n.jsonl`` (:func:`shard_manifest`): processes never
append to one file. A rerun reads the merged manifest and every shard
manifest (:func:`read_manifests`), so it skips what any shard finished,
whatever the shard count. :func:`merge_manifests` is the explicit last step:
it checks that every video has a record and that the outputs of those done
pass :func:`output_problem`, writes ``manifest.jsonl`` atomically (one line
per video, in list order) and only then removes the shard manifests; if
anything is missing it names it and changes nothing.

:func:`output_problem` opens each output with its own library without
reading the arrays: safetensors checks that the header's tensors cover the
file exactly, numpy's header gives the array's size, which must end the file
exactly; the keys and shapes must be the manifest's. So a zero-byte,
truncated or padded file, or one of other shapes, is redone. This was chosen
over a checksum in the manifest: it costs one header read per file instead of
reading every byte (a resume over millions of token grids stays quick), and
it works on manifests written before the check (no new field). It does not
see bit flips inside the arrays, which the atomic writes cannot produce.

Settings
--------
``extract_settings.json`` (:data:`SETTINGS`) holds the settings that shape
the outputs (encoder, pipeline, normalisation, outputs, format);
:func:`check_settings` refuses a rerun with other settings rather than mixing
features.
"""
import glob
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from ..utils.checkpoint_io import (atomic_write, atomic_write_bytes,
                                   atomic_write_text, fsync_dir)

FORMATS = ('safetensors', 'npy')
MANIFEST = 'manifest.jsonl'
SETTINGS = 'extract_settings.json'
#: Encoder outputs, saved as float32.
FEATURE_KEYS = ('pooled', 'tokens')
#: The windows of a sliding-window run, saved as they are (int64, float64).
WINDOW_KEYS = ('window_frames', 'window_seconds')
_SHARD_MANIFEST = re.compile(r'manifest\.shard-(\d+)-of-(\d+)\.jsonl$')


def output_keys(pooled: Optional[str], tokens: bool,
                windows: bool = False) -> List[str]:
    """The output keys of a run: ``'pooled'`` if ``pooled`` is given, then
    ``'tokens'`` if ``tokens``, then :data:`WINDOW_KEYS` if ``windows``."""
    return ((['pooled'] if pooled else []) + (['tokens'] if tokens else []) +
            (list(WINDOW_KEYS) if windows else []))


def parse_shard(text: str) -> Tuple[int, int]:
    """``'i/n'`` as ``(i, n)`` with ``0 <= i < n``.

    Raises:
        ValueError: Not of that form, naming the text.
    """
    match = re.fullmatch(r'(\d+)/(\d+)', text.strip())
    if not match or not int(match[1]) < int(match[2]):
        raise ValueError(f'--shard must be i/n with 0 <= i < n, got {text!r}')
    return int(match[1]), int(match[2])


def shard_videos(videos: List[dict], index: int, count: int) -> List[dict]:
    """The videos of shard ``index`` of ``count``: every ``count``-th video
    from the ``index``-th, so shards get similar mixes of the list."""
    return videos[index::count]


def shard_manifest(index: int, count: int) -> str:
    """The manifest file name of shard ``index`` of ``count``."""
    return f'manifest.shard-{index}-of-{count}.jsonl'


def shard_manifests(out_dir: str) -> List[str]:
    """Paths of the shard manifests in ``out_dir``, oldest first."""
    paths = [p for p in glob.glob(osp.join(out_dir, 'manifest.shard-*.jsonl'))
             if _SHARD_MANIFEST.search(p)]
    return sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))


def output_stem(name: str) -> str:
    """Output path (without suffix) of a video name: its extension dropped.

    Raises:
        ValueError: The name leaves the output folder (absolute or ``..``).
    """
    stem = osp.normpath(osp.splitext(name)[0])
    if osp.isabs(stem) or stem.split(os.sep)[0] == '..':
        raise ValueError(f'video {name!r}: its output would lie outside the '
                         'output folder; list paths relative to --data-root')
    return stem


def check_unique_stems(videos: List[dict]) -> None:
    """Raise ValueError if two videos would write the same output files."""
    seen: Dict[str, str] = {}
    for video in videos:
        stem = output_stem(video['name'])
        if stem in seen:
            raise ValueError(f'videos {seen[stem]!r} and {video["name"]!r} '
                             f'would both write {stem!r}; rename one')
        seen[stem] = video['name']


def output_files(stem: str, keys: Sequence[str], fmt: str) -> Dict[str, str]:
    """``{key: relative file}`` of a video's outputs."""
    if fmt == 'safetensors':
        return {k: f'{stem}.safetensors' for k in keys}
    return {k: f'{stem}.{k}.npy' for k in keys}


def save_outputs(out_dir: str, files: Dict[str, str],
                 arrays: Dict[str, torch.Tensor], fmt: str) -> None:
    """Write a video's arrays (the :data:`FEATURE_KEYS` as float32, others
    as they are), each file atomically and fsynced
    (:func:`~mmivnext.utils.checkpoint_io.atomic_write`)."""
    arrays = {k: (v.float() if k in FEATURE_KEYS else v).cpu().contiguous()
              for k, v in arrays.items()}
    if fmt == 'safetensors':
        (path,) = set(files.values())
        atomic_write_bytes(safetensors_bytes(arrays), osp.join(out_dir, path))
        return
    for key, path in files.items():
        with atomic_write(osp.join(out_dir, path)) as f:
            np.save(f, arrays[key].numpy())


def _file_shapes(path: str, fmt: str) -> Dict[Optional[str], List[int]]:
    """The shapes in an output file, read from its header only: ``{key:
    shape}`` of a safetensors file, ``{None: shape}`` of a ``.npy`` file.

    Raises:
        ValueError: The file is not complete: its header is unreadable, or
            the data it announces does not end exactly at the file's end.
    """
    if fmt == 'safetensors':
        try:  # safetensors checks that the tensors cover the file exactly
            with safe_open(path, framework='pt') as f:
                return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
        except (SafetensorError, OSError) as err:
            raise ValueError(f'{type(err).__name__}: {err}') from err
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    with open(path, 'rb') as f:
        try:
            version = np.lib.format.read_magic(f)
            if version not in readers:
                raise ValueError(f'.npy version {version}')
            shape, _, dtype = readers[version](f)
        except (ValueError, EOFError) as err:
            raise ValueError(f'unreadable .npy header ({err})') from err
        end = f.tell() + int(np.prod(shape)) * dtype.itemsize
    size = osp.getsize(path)
    if end != size:
        raise ValueError(f'its header announces {end} bytes, the file has '
                         f'{size}')
    return {None: list(shape)}


def output_problem(out_dir: str, record: dict, files: Dict[str, str],
                   fmt: str) -> Optional[str]:
    """Why the outputs of a video the manifest says is done cannot be
    trusted, or None if they can.

    Each of ``files`` (``{key: relative path}``, this run's outputs of the
    video) must exist, be complete (:func:`_file_shapes`) and hold its key
    with the shape the manifest's ``record`` gives (``shapes``). Only
    headers are read; see the module docstring for why this and not a
    checksum.
    """
    expected = record.get('shapes') or {}
    for path in sorted(set(files.values())):
        full = osp.join(out_dir, path)
        if not osp.isfile(full):
            return f'{full} is missing'
        try:
            shapes = _file_shapes(full, fmt)
        except ValueError as err:
            return f'{full} is incomplete or corrupt ({err})'
        for key in sorted(k for k, p in files.items() if p == path):
            shape = shapes.get(key if fmt == 'safetensors' else None)
            if shape is None:
                return f'{full} holds no {key!r}'
            if key in expected and shape != expected[key]:
                return (f'{full} holds {key} of shape {shape}, the manifest '
                        f'says {expected[key]}')
    return None


def read_manifest(path: str) -> Dict[str, dict]:
    """The latest manifest record per video.

    A last line without its newline (a run killed while appending) is cut
    off the file, with a message, so that the next records start on a line
    of their own; that video is simply extracted again. Any other line that
    is not a record raises ValueError naming it.
    """
    records: Dict[str, dict] = {}
    if not osp.isfile(path):
        return records
    with open(path, 'rb+') as f:
        data = f.read()
        if data and not data.endswith(b'\n'):
            keep = data.rfind(b'\n') + 1
            print(f'{path}: cutting off a truncated last line '
                  f'{data[keep:]!r}', file=sys.stderr)
            f.truncate(keep)
            os.fsync(f.fileno())
            data = data[:keep]
    for line_no, line in enumerate(data.decode().split('\n'), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[record['video']] = record
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f'{path}:{line_no}: not a manifest record '
                             f'({err}): {line!r}') from err
    return records


def read_manifests(out_dir: str) -> Dict[str, dict]:
    """The latest record per video over the merged manifest and the shard
    manifests of ``out_dir`` (read in that order, shards oldest first)."""
    records = read_manifest(osp.join(out_dir, MANIFEST))
    for path in shard_manifests(out_dir):
        records.update(read_manifest(path))
    return records


def is_done(record: Optional[dict], out_dir: str, files: Dict[str, str],
            fmt: str) -> Optional[bool]:
    """Whether a video is done: True if its manifest ``record`` says
    ``done`` and its ``files`` pass :func:`output_problem`, None if the
    record says ``done`` but they do not (the reason is printed: the video
    is redone), False otherwise."""
    if not record or record.get('status') != 'done':
        return False
    problem = output_problem(out_dir, record, files, fmt)
    if problem is None:
        return True
    print(f'{record["video"]}: listed as done in the manifest, but '
          f'{problem}; extracting it again', file=sys.stderr)
    return None


def pending_videos(videos: List[dict], out_dir: str, keys: Sequence[str],
                   fmt: str) -> Tuple[List[dict], int]:
    """The videos still to extract into ``out_dir``, by its manifests
    (:func:`read_manifests`).

    Args:
        videos (list[dict]): ``dict(name, filename)`` per video.
        out_dir (str): The output folder.
        keys (Sequence[str]): The outputs of the run (:func:`output_keys`).
        fmt (str): One of :data:`FORMATS`.

    Returns:
        tuple[list[dict], int]: The videos that are not done
        (:func:`is_done`), in order, and how many of them the manifest lists
        as done although their files fail the check.
    """
    records = read_manifests(out_dir)
    todo, redone = [], 0
    for video in videos:
        files = output_files(output_stem(video['name']), keys, fmt)
        done = is_done(records.get(video['name']), out_dir, files, fmt)
        if not done:
            todo.append(video)
            redone += done is None
    return todo, redone


def check_settings(out_dir: str, settings: dict) -> None:
    """Write ``extract_settings.json``, or check a previous run's matches.

    Raises:
        ValueError: The folder holds outputs of other settings.
    """
    path = osp.join(out_dir, SETTINGS)
    settings = json.loads(json.dumps(settings))  # tuples -> lists
    if osp.isfile(path):
        with open(path) as f:
            previous = json.load(f)
        differ = sorted(k for k in previous.keys() | settings.keys()
                        if previous.get(k) != settings.get(k))
        if differ:
            raise ValueError(
                f'{out_dir} holds features extracted with other settings '
                f'({path}: {differ} differ: '
                f'{ {k: previous.get(k) for k in differ} } vs '
                f'{ {k: settings.get(k) for k in differ} }); use another '
                'output folder')
        return
    atomic_write_text(json.dumps(settings, indent=2, sort_keys=True), path)


def merge_manifests(videos: List[dict], out_dir: str, keys: Sequence[str],
                    fmt: str) -> dict:
    """Merge the shard manifests of ``out_dir`` into ``manifest.jsonl``.

    Every video of ``videos`` must have a record (:func:`read_manifests`),
    the outputs of those ``done`` must pass :func:`output_problem`, and no
    record may name a video outside ``videos``; then ``manifest.jsonl`` is
    written atomically with one line per video in list order, and the shard
    manifests are removed. Failed videos (``--on-error skip``) keep their
    records and are counted.

    Args:
        videos (list[dict]): ``dict(name, filename)`` per video, the whole
            list the shards split.
        out_dir (str): The output folder.
        keys (Sequence[str]): The outputs of the run (:func:`output_keys`).
        fmt (str): One of :data:`FORMATS`.

    Returns:
        dict: ``total``, ``done``, ``failed``, ``failed_videos`` (names) and
        ``shard_manifests`` (the files merged and removed).

    Raises:
        ValueError: Something is missing or does not belong; nothing is
            written or removed then.
    """
    records = read_manifests(out_dir)
    shards = shard_manifests(out_dir)
    names = {video['name'] for video in videos}
    missing, broken, lines = [], [], []
    summary = dict(total=len(videos), done=0, failed=0, failed_videos=[],
                   shard_manifests=shards)
    for video in videos:
        record = records.get(video['name'])
        if record is None:
            missing.append(video['name'])
            continue
        if record.get('status') == 'done':
            problem = output_problem(
                out_dir, record,
                output_files(output_stem(video['name']), keys, fmt), fmt)
            if problem is not None:
                broken.append(f'{video["name"]} ({problem})')
                continue
            summary['done'] += 1
        else:
            summary['failed'] += 1
            summary['failed_videos'].append(video['name'])
        lines.append(json.dumps(record) + '\n')
    foreign = sorted(set(records) - names)
    problems = [(f'{len(items)} {what}: ' + ', '.join(items[:5]) +
                 (f' and {len(items) - 5} more' if len(items) > 5 else ''))
                for what, items in (
                    ('videos without a record (run their shards again)',
                     missing),
                    ('videos listed as done whose outputs fail the check '
                     '(run their shards again)', broken),
                    ('recorded videos that are not in the list (another '
                     'list?)', foreign)) if items]
    if problems:
        raise ValueError(f'{out_dir}: cannot merge the manifests of '
                         f'{len(videos)} videos: ' + '; '.join(problems))
    atomic_write_text(''.join(lines), osp.join(out_dir, MANIFEST))
    for path in shards:
        os.remove(path)
    fsync_dir(out_dir)
    return summary
