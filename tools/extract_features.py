"""Extract encoder embeddings of videos: pooled vectors and/or token grids.

Examples::

    # an exported encoder (export_encoder.py), every video under a folder
    python tools/extract_features.py VIDEO_DIR OUT_DIR \\
        --encoder encoder.safetensors --pooled --tokens
    # a config's model.backbone + a runner checkpoint, an mmaction2 list
    python tools/extract_features.py val_list.txt OUT_DIR --data-root videos \\
        --config CONFIG --checkpoint CKPT --pooled cls --format npy
    # an image model of transformers, frame by frame (the zoo's SigLIP 2 /
    # DINO baselines: mmivnext.PerFrameImageEncoder)
    python tools/extract_features.py VIDEO_DIR OUT_DIR \\
        --image-encoder google/siglip2-large-patch16-256 --pooled --tokens

**Input.** A folder, scanned recursively for video files (``--exts``), or an
mmaction2-style list file (``"<path> [label]"`` per line, paths relative to
``--data-root``, by default the list file's folder). A video's *name* is its
path relative to the folder (or as listed).

**Preprocessing** uses mmaction2's transforms, as the val pipeline of
``configs/_base_/datasets/video_cls_16x224.py``: ``DecordInit``, clip
sampling (``UniformSample`` with ``test_mode=True`` by default, or
``SampleFrames`` with ``--frame-interval``), ``DecordDecode``,
``Resize`` of the short side, ``CenterCrop``, ``FormatShape('NCTHW')``; then
``(x - mean) / std`` on 0-255 pixels (ImageNet statistics by default, as the
configs' data preprocessors). With ``--num-clips N`` the outputs of the
``N`` clips are averaged.

**Outputs**, under ``OUT_DIR``, named after the video's name without its
extension (``train/a.mp4`` -> ``train/a.safetensors``, with keys ``pooled``
and/or ``tokens``; or ``train/a.pooled.npy`` and ``train/a.tokens.npy``):

- ``pooled`` (``--pooled [mean|cls|projected]``): ``[C]``, the mean of the
  patch tokens, the mean of the cls tokens, or the encoder's projector
  (``[D]``, or ``[Q, D]`` with several queries); image encoders give the
  mean only;
- ``tokens`` (``--tokens``): the last layer's patch tokens as a grid
  ``[T', H', W', C]`` (``T' = T`` frames for image encoders, each frame
  resized to the model's size: ``--image-size``, default its own).

Arrays are float32 (also with ``--amp``, bf16 autocast on CUDA).

**Manifest and resuming.** ``OUT_DIR/manifest.jsonl`` gets one JSON line per
video once its files are written: ``video``, ``filename``, ``status``
(``'done'`` with ``outputs`` and ``shapes``, or ``'failed'`` with
``error``). Files are written atomically (a temporary file in the same folder,
fsynced, renamed over the target, the folder fsynced:
:func:`mmivnext.utils.checkpoint_io.atomic_write`), and the line is appended
and fsynced after the rename, so an interrupted run loses at most the batch
in flight. A rerun skips the videos whose latest line says ``done`` and whose
files pass :func:`output_problem`, and does the rest (failed videos are tried
again), saying which done videos it redoes and why.

:func:`output_problem` opens each output with its own library without
reading the arrays: safetensors checks that the header's tensors cover the
file exactly, numpy's header gives the array's size, which must end the file
exactly; the keys and shapes must be the manifest's. So a zero-byte,
truncated or padded file, or one of other shapes, is redone. This was chosen
over a checksum in the manifest: it costs one header read per file instead of
reading every byte (a resume over millions of token grids stays quick), and
it works on manifests written before the check (no new field). It does not
see bit flips inside the arrays, which the atomic writes cannot produce.
``OUT_DIR/extract_settings.json`` holds the settings that shape the outputs
(encoder, pipeline, normalisation, outputs, format); a rerun with other
settings is refused rather than mixing features.

**Encoders are read weights-only** (nothing in a checkpoint is run); a file
that cannot be read safely ends the tool with ``error: <file>: <reason>``.

**Unreadable videos** raise a ``VideoReadError`` naming the file (after the
readable videos of the same batch are saved); with ``--on-error skip`` they
are recorded in the manifest as ``failed`` with the reason, counted, and
listed at the end.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Union

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import numpy as np
import torch
from mmengine.dataset import Compose
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mmivnext.datasets.video_dataset import (UnlabeledVideoDataset,
                                             VideoReadError)
from mmivnext.models.backbones import (PerFrameImageEncoder,
                                       VisionTransformer3D)
from mmivnext.models.teachers.frozen_video_teacher import \
    read_encoder_state_dict
from mmivnext.utils.checkpoint_io import (CheckpointLoadError, atomic_write,
                                          atomic_write_bytes,
                                          atomic_write_text, fsync_dir)
from mmivnext.utils.encoder_export import (config_backbone,
                                           encoder_architecture)
from mmivnext.utils.encoder_loading import exported_json_path

#: Suffixes of the files taken from a folder (case-insensitive).
VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.flv',
              '.mpg', '.mpeg', '.wmv')
#: ImageNet statistics on 0-255 pixels, as the configs' data preprocessors.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
POOL_CHOICES = ('mean', 'cls', 'projected')
FORMATS = ('safetensors', 'npy')
MANIFEST = 'manifest.jsonl'
SETTINGS = 'extract_settings.json'


# --------------------------------------------------------------- inputs ----
def scan_folder(root: str, exts: Sequence[str] = VIDEO_EXTS) -> List[str]:
    """Video files under ``root`` (recursively), as sorted relative paths.

    Raises:
        ValueError: No file with one of ``exts`` is found.
    """
    exts = tuple(e.lower() for e in exts)
    names = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            if name.lower().endswith(exts):
                names.append(osp.relpath(osp.join(folder, name), root))
    if not names:
        raise ValueError(f'{root}: no video files (suffixes {list(exts)})')
    return sorted(names)


def list_videos(source: str, data_root: Optional[str] = None,
                exts: Sequence[str] = VIDEO_EXTS) -> List[dict]:
    """The videos of a folder or of an mmaction2 list file.

    Args:
        source (str): A folder (scanned recursively) or a list file.
        data_root (str, optional): Folder the listed paths are relative to
            (list files only). Defaults to the list file's folder.
        exts (Sequence[str]): Suffixes of video files (folders only).

    Returns:
        list[dict]: ``dict(name=<relative path>, filename=<path>)`` per video.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: Nothing to extract, or a list line is malformed.
    """
    if osp.isdir(source):
        if data_root is not None:
            raise ValueError('--data-root is for list files; the videos of a '
                             f'folder are relative to it ({source})')
        return [dict(name=name, filename=osp.join(source, name))
                for name in scan_folder(source, exts)]
    if not osp.isfile(source):
        raise FileNotFoundError(f'{source}: no such folder or list file')
    if data_root is None:
        data_root = osp.dirname(source) or '.'
    # The dataset parses the list with mmaction2's format and its errors.
    dataset = UnlabeledVideoDataset(
        source, pipeline=[], data_prefix=dict(video=data_root),
        test_mode=True)
    filenames = [dataset.get_data_info(i)['filename']
                 for i in range(len(dataset))]
    return [dict(name=osp.relpath(f, data_root), filename=f)
            for f in filenames]


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


# ------------------------------------------------------- preprocessing ----
def pipeline_cfg(num_frames: int = 16, frame_interval: Optional[int] = None,
                 num_clips: int = 1, short_side: int = 224,
                 crop_size: int = 224) -> List[dict]:
    """mmaction2 transforms from a file name to clips ``[N, C, T, H, W]``.

    ``UniformSample`` (one frame per equal segment, the segments' centres)
    without ``frame_interval``, else ``SampleFrames`` with ``test_mode=True``
    (clips evenly spread over the video); as the configs' val pipeline.
    """
    if frame_interval is None:
        sample = dict(type='UniformSample', clip_len=num_frames,
                      num_clips=num_clips, test_mode=True)
    else:
        sample = dict(type='SampleFrames', clip_len=num_frames,
                      frame_interval=frame_interval, num_clips=num_clips,
                      test_mode=True)
    return [
        dict(type='DecordInit'),
        sample,
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, short_side)),
        dict(type='CenterCrop', crop_size=crop_size),
        dict(type='FormatShape', input_format='NCTHW'),
    ]


def build_pipeline(cfg: List[dict]) -> Compose:
    """Compose mmaction2 transforms (plain type names, mmaction's registry).
    """
    import mmaction.datasets  # noqa: F401  (registers the transforms)
    from mmaction.registry import TRANSFORMS
    return Compose([TRANSFORMS.build(dict(t)) for t in cfg])


class ClipDataset(Dataset):
    """Videos through a pipeline, failures returned rather than raised.

    Each item is ``dict(index, imgs=uint8 ndarray [N, C, T, H, W])`` or, if
    the pipeline raised, ``dict(index, error=<reason>)``, so that the main
    process decides (raise or record) whatever the number of workers.

    Args:
        videos (list[dict]): ``dict(name, filename)`` per video.
        pipeline (list[dict]): Transforms, see :func:`pipeline_cfg`.
    """

    def __init__(self, videos: List[dict], pipeline: List[dict]) -> None:
        self.videos = videos
        self.pipeline = build_pipeline(pipeline)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        results = dict(filename=self.videos[index]['filename'], label=-1,
                       start_index=0, modality='RGB')
        for transform in self.pipeline.transforms:
            try:
                results = transform(results)
            except Exception as err:  # reported per video by the caller
                return dict(index=index, error=f'{type(transform).__name__} '
                            f'raised {type(err).__name__}: {err}')
            if results is None:
                return dict(index=index, error=f'{type(transform).__name__} '
                            'returned None')
        return dict(index=index, imgs=np.ascontiguousarray(results['imgs']))


def _keep_list(batch: list) -> list:
    """DataLoader collate: the items as they are."""
    return batch


# -------------------------------------------------------------- encoder ----
def load_exported_encoder(path: str) -> VisionTransformer3D:
    """An encoder exported by ``export_encoder.py``: ``path`` (safetensors)
    and the architecture JSON beside it, loaded strictly."""
    json_path = exported_json_path(path)
    if json_path is None:
        raise ValueError(f'--encoder must be a .safetensors file, got {path}')
    for p in (path, json_path):
        if not osp.isfile(p):
            raise FileNotFoundError(f'{p}: no such file (an exported encoder '
                                    'is X.safetensors + X.json)')
    with open(json_path) as f:
        arch = json.load(f)
    arch.update(out_indices=-1, out_type='raw')
    encoder = VisionTransformer3D(
        **arch, init_cfg=dict(type='Pretrained', checkpoint=path))
    encoder.init_weights()
    return encoder


def load_config_encoder(config: str, checkpoint: str,
                        prefix: str = 'backbone.') -> VisionTransformer3D:
    """``model.backbone`` of ``config`` with the ``prefix`` weights of
    ``checkpoint``, loaded strictly."""
    for p in (config, checkpoint):
        if not osp.isfile(p):
            raise FileNotFoundError(f'{p}: no such file')
    try:
        arch = encoder_architecture(config_backbone(config))
        state = read_encoder_state_dict(checkpoint, prefix)
    except ValueError as err:
        raise ValueError(f'{config} / {checkpoint}: {err}') from err
    encoder = VisionTransformer3D(**arch)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f'{checkpoint} (prefix {prefix!r}) does not fit '
                           f'model.backbone of {config}: {err}') from err
    return encoder


def load_image_encoder(pretrained: str, mean: Sequence[float],
                       std: Sequence[float],
                       image_size: Optional[int] = None) -> PerFrameImageEncoder:
    """A transformers image model (hub id or folder) applied per frame, fed
    clips normalised with ``mean`` / ``std`` (it renormalises them with its
    own statistics)."""
    return PerFrameImageEncoder(pretrained=pretrained, out_type='raw',
                                input_mean=mean, input_std=std,
                                image_size=image_size)


@torch.no_grad()
def encode(encoder: Union[VisionTransformer3D, PerFrameImageEncoder],
           clips: torch.Tensor, pooled: Optional[str],
           tokens: bool) -> Dict[str, torch.Tensor]:
    """Pooled vectors and/or token grids of normalised clips.

    Args:
        encoder (VisionTransformer3D | PerFrameImageEncoder): With
            ``out_type='raw'``, one output. An image encoder has no cls
            tokens or projector here: ``pooled`` must be ``'mean'``.
        clips (Tensor): ``[B, C, T, H, W]``, normalised.
        pooled (str, optional): One of :data:`POOL_CHOICES`, or None.
        tokens (bool): Return the patch-token grid.

    Returns:
        dict: ``pooled`` ``[B, C]`` (``[B, D]`` / ``[B, Q, D]`` projected)
        and/or ``tokens`` ``[B, T', H', W', C]``.
    """
    if isinstance(encoder, PerFrameImageEncoder):
        grid = (clips.shape[2], *encoder.token_grid)  # (T, h, w)
        n_cls = 0
    else:
        grid = encoder._check_inputs(clips)  # (T', H', W')
        n_cls = encoder.num_cls_tokens
    x = encoder(clips)  # [B, num_cls + N, C]
    out = {}
    if pooled == 'mean':
        out['pooled'] = x[:, n_cls:].mean(dim=1)  # [B, C]
    elif pooled == 'cls':
        out['pooled'] = x[:, :n_cls].mean(dim=1)  # [B, C]
    elif pooled == 'projected':
        proj = encoder.projector(x)  # [B, Q, D]
        out['pooled'] = proj.squeeze(1) if proj.shape[1] == 1 else proj
    if tokens:
        B, _, C = x.shape
        out['tokens'] = x[:, n_cls:].reshape(B, *grid, C)  # [B, T', H', W', C]
    return out


# -------------------------------------------------------------- outputs ----
def output_files(stem: str, keys: Sequence[str], fmt: str) -> Dict[str, str]:
    """``{key: relative file}`` of a video's outputs."""
    if fmt == 'safetensors':
        return {k: f'{stem}.safetensors' for k in keys}
    return {k: f'{stem}.{k}.npy' for k in keys}


def save_outputs(out_dir: str, files: Dict[str, str],
                 arrays: Dict[str, torch.Tensor], fmt: str) -> None:
    """Write a video's arrays (float32), each file atomically and fsynced
    (:func:`~mmivnext.utils.checkpoint_io.atomic_write`)."""
    arrays = {k: v.float().cpu().contiguous() for k, v in arrays.items()}
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


# ------------------------------------------------------------------ CLI ----
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract encoder embeddings (pooled and/or token grids) '
        'of videos, resumably.')
    parser.add_argument('videos', help='folder (scanned recursively) or '
                        'mmaction2 list file ("<path> [label]" per line)')
    parser.add_argument('out_dir', help='output folder (features, '
                        f'{MANIFEST}, {SETTINGS})')
    parser.add_argument('--data-root', help='folder the paths of a list file '
                        "are relative to (default: the list file's folder)")
    parser.add_argument('--exts', nargs='+', default=list(VIDEO_EXTS),
                        help='video suffixes taken from a folder')
    enc = parser.add_argument_group('encoder (--encoder, --config with '
                                    '--checkpoint, or --image-encoder)')
    enc.add_argument('--encoder', help='exported encoder X.safetensors '
                     '(export_encoder.py), with X.json beside it')
    enc.add_argument('--config', help='config whose model.backbone is the '
                     'encoder')
    enc.add_argument('--checkpoint', help='checkpoint of --config')
    enc.add_argument('--prefix', default='backbone.', help='encoder key '
                     "prefix in --checkpoint (default: 'backbone.')")
    enc.add_argument('--image-encoder', metavar='PRETRAINED',
                     help='a transformers image model (SigLIP / SigLIP 2 / '
                     'DINOv2 / DINOv3 hub id or local folder) run on every '
                     'frame (mmivnext.PerFrameImageEncoder)')
    enc.add_argument('--image-size', type=int, help='side of the frames the '
                     "image encoder sees (default: the checkpoint's)")
    pre = parser.add_argument_group('preprocessing')
    pre.add_argument('--num-frames', type=int, default=16,
                     help='frames per clip (default: 16)')
    pre.add_argument('--frame-interval', type=int, help='sample frames this '
                     'far apart (SampleFrames); default: uniform sampling of '
                     'the whole video (UniformSample)')
    pre.add_argument('--num-clips', type=int, default=1, help='clips per '
                     'video, outputs averaged (default: 1)')
    pre.add_argument('--short-side', type=int, default=224,
                     help='resize the short side to this (default: 224)')
    pre.add_argument('--crop-size', type=int, default=224,
                     help='centre crop size (default: 224)')
    pre.add_argument('--mean', type=float, nargs=3, default=IMAGENET_MEAN,
                     help='RGB mean on 0-255 (default: ImageNet)')
    pre.add_argument('--std', type=float, nargs=3, default=IMAGENET_STD,
                     help='RGB std on 0-255 (default: ImageNet)')
    out = parser.add_argument_group('outputs')
    out.add_argument('--pooled', nargs='?', const='mean', choices=POOL_CHOICES,
                     help='save a pooled vector: mean of the patch tokens '
                     '(default when given alone), mean of the cls tokens, or '
                     'the encoder\'s projector')
    out.add_argument('--tokens', action='store_true',
                     help="save the patch-token grid [T', H', W', C]")
    out.add_argument('--format', choices=FORMATS, default='safetensors')
    out.add_argument('--on-error', choices=('raise', 'skip'), default='raise',
                     help='unreadable videos: raise (default), or record as '
                     'failed in the manifest and go on')
    run = parser.add_argument_group('running')
    run.add_argument('--device', default='cuda' if torch.cuda.is_available()
                     else 'cpu')
    run.add_argument('--batch-size', type=int, default=8,
                     help='videos per forward (default: 8)')
    run.add_argument('--num-workers', type=int, default=4,
                     help='DataLoader workers decoding videos (default: 4)')
    run.add_argument('--amp', action='store_true',
                     help='bf16 autocast (CUDA only); outputs stay float32')
    args = parser.parse_args(argv)
    sources = [args.encoder is not None,
               args.config is not None or args.checkpoint is not None,
               args.image_encoder is not None]
    if sum(sources) != 1:
        parser.error('give one encoder: --encoder, --config and --checkpoint, '
                     'or --image-encoder')
    if sources[1] and (args.config is None or args.checkpoint is None):
        parser.error('--config needs --checkpoint, and --checkpoint --config')
    if args.image_size is not None and not sources[2]:
        parser.error('--image-size is for --image-encoder')
    if sources[2] and args.pooled not in (None, 'mean'):
        parser.error(f'--pooled {args.pooled}: an image encoder gives the '
                     'mean of its patch tokens only (--pooled mean)')
    if args.pooled is None and not args.tokens:
        parser.error('nothing to save: give --pooled and/or --tokens')
    for name in ('num_frames', 'num_clips', 'short_side', 'crop_size',
                 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.frame_interval is not None and args.frame_interval < 1:
        parser.error('--frame-interval must be >= 1')
    if args.num_workers < 0:
        parser.error('--num-workers must be >= 0')
    return args


def main(argv=None) -> dict:
    """Run the extraction; returns the counts (``total``, ``done``,
    ``skipped`` as already done, ``failed``) and ``failed_videos``."""
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.amp and device.type != 'cuda':
        raise SystemExit(f'error: --amp (bf16 autocast) is for CUDA devices, '
                         f'got --device {args.device}')
    videos = list_videos(args.videos, args.data_root, args.exts)
    check_unique_stems(videos)
    pipeline = pipeline_cfg(args.num_frames, args.frame_interval,
                            args.num_clips, args.short_side, args.crop_size)
    keys = (['pooled'] if args.pooled else []) + (
        ['tokens'] if args.tokens else [])
    os.makedirs(args.out_dir, exist_ok=True)
    check_settings(args.out_dir, dict(
        encoder=osp.abspath(args.encoder) if args.encoder else None,
        config=osp.abspath(args.config) if args.config else None,
        checkpoint=osp.abspath(args.checkpoint) if args.checkpoint else None,
        prefix=args.prefix if args.config else None,
        image_encoder=args.image_encoder, image_size=args.image_size,
        pipeline=pipeline, mean=list(args.mean), std=list(args.std),
        pooled=args.pooled, tokens=args.tokens, format=args.format,
        amp=args.amp))

    manifest_path = osp.join(args.out_dir, MANIFEST)
    records = read_manifest(manifest_path)
    todo, redone = [], 0
    for video in videos:
        files = output_files(output_stem(video['name']), keys, args.format)
        done = is_done(records.get(video['name']), args.out_dir, files,
                       args.format)
        if not done:
            todo.append(video)
            redone += done is None
    summary = dict(total=len(videos), skipped=len(videos) - len(todo),
                   done=0, failed=0, failed_videos=[], redone=redone)
    print(f'{len(videos)} videos: {summary["skipped"]} already done, '
          f'{len(todo)} to extract into {args.out_dir}' +
          (f' (with {redone} listed as done whose outputs failed the '
           'check)' if redone else ''))
    if not todo:
        return summary

    try:
        if args.encoder:
            encoder = load_exported_encoder(args.encoder)
        elif args.image_encoder:
            encoder = load_image_encoder(args.image_encoder, args.mean,
                                         args.std, args.image_size)
        else:
            encoder = load_config_encoder(args.config, args.checkpoint,
                                          args.prefix)
    except (CheckpointLoadError, FileNotFoundError, ValueError,
            RuntimeError) as err:
        raise SystemExit(f'error: {err}') from err
    if args.pooled == 'projected' and encoder.projector is None:
        raise SystemExit('error: --pooled projected: the encoder has no '
                         'projector (projector_cfg)')
    encoder = encoder.to(device).eval()
    mean = torch.tensor(args.mean, device=device).view(1, 3, 1, 1, 1)
    std = torch.tensor(args.std, device=device).view(1, 3, 1, 1, 1)

    loader = DataLoader(ClipDataset(todo, pipeline), batch_size=args.batch_size,
                        shuffle=False, num_workers=args.num_workers,
                        collate_fn=_keep_list)
    with open(manifest_path, 'a') as manifest, tqdm(
            total=len(todo), unit='video', desc='extract') as bar:
        fsync_dir(args.out_dir)  # the manifest's entry, if just created

        def log(record):  # durable before the next video is counted done
            manifest.write(json.dumps(record) + '\n')
            manifest.flush()
            os.fsync(manifest.fileno())

        for batch in loader:
            ok = [item for item in batch if 'imgs' in item]
            failed = [item for item in batch if 'error' in item]
            if ok:
                clips = torch.cat([torch.from_numpy(i['imgs']) for i in ok])
                clips = (clips.to(device).float() - mean) / std
                with torch.autocast('cuda', dtype=torch.bfloat16,
                                    enabled=args.amp):
                    outs = encode(encoder, clips, args.pooled, args.tokens)
                start = 0
                for item in ok:
                    video = todo[item['index']]
                    n = item['imgs'].shape[0]  # clips of this video
                    arrays = {k: v[start:start + n].float().mean(dim=0)
                              for k, v in outs.items()}
                    start += n
                    files = output_files(output_stem(video['name']), keys,
                                         args.format)
                    save_outputs(args.out_dir, files, arrays, args.format)
                    log(dict(video=video['name'], filename=video['filename'],
                             status='done', outputs=files, num_clips=n,
                             shapes={k: list(v.shape)
                                     for k, v in arrays.items()}))
                    summary['done'] += 1
            for item in failed:
                video = todo[item['index']]
                if args.on_error == 'raise':
                    raise VideoReadError(video['filename'], item['error'])
                log(dict(video=video['name'], filename=video['filename'],
                         status='failed', error=item['error']))
                summary['failed'] += 1
                summary['failed_videos'].append(video['name'])
                tqdm.write(f'failed: {video["filename"]}: {item["error"]}')
            bar.update(len(batch))
            bar.set_postfix(failed=summary['failed'])

    print(f'{summary["done"]} extracted, {summary["skipped"]} already done, '
          f'{summary["failed"]} failed; manifest: {manifest_path}')
    if summary['failed']:
        print('failed videos (see the manifest for the reasons):\n  ' +
              '\n  '.join(summary['failed_videos']))
    return summary


if __name__ == '__main__':
    main()
