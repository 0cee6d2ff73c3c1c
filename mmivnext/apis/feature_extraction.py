"""Encoder embeddings of videos: pooled vectors and/or token grids.

The library part of ``tools/extract_features.py`` (its command line, with
examples); the output files, the manifest that makes a run resumable and the
settings check are in :mod:`mmivnext.apis.feature_files`.

Inputs
------
:func:`list_videos` takes a folder, scanned recursively for video files, or
an mmaction2-style list file (``"<path> [label]"`` per line, paths relative
to a data root, by default the list file's folder). A video's *name* is its
path relative to the folder (or as listed).

Preprocessing
-------------
:func:`pipeline_cfg` builds the transforms, as the val pipeline of
``configs/_base_/datasets/video_cls_16x224.py``: ``mmivnext.VideoInit``
(decord, PyAV or torchcodec, :mod:`mmivnext.datasets.transforms.video_decode`),
clip sampling (``UniformSample`` with ``test_mode=True`` by default,
``SampleFrames`` with a frame interval, or ``mmivnext.SampleSlidingWindows``
with a window), ``mmivnext.VideoDecode``, ``Resize`` of the short side,
``CenterCrop``, ``FormatShape('NCTHW')``; then :func:`extract_features`
applies ``(x - mean) / std`` on 0-255 pixels (ImageNet statistics by default,
as the configs' data preprocessors). With several clips per video, their
outputs are averaged.

Sliding windows
---------------
With a window (``SampleSlidingWindows``), each window of the video gives one
clip and one output, saved with the window's start and end frames and
seconds (:mod:`mmivnext.apis.feature_files`). :class:`WindowClipDataset`
opens a video once and decodes ``batch_size`` windows at a time, so a long
video never sits decoded in memory.

Outputs
-------
:func:`encode` gives

- ``pooled`` (:data:`POOL_CHOICES`): ``[C]``, the mean of the patch tokens,
  the mean of the cls tokens, or the encoder's projector (``[D]``, or
  ``[Q, D]`` with several queries); image encoders give the mean only;
- ``tokens``: the last layer's patch tokens as a grid ``[T', H', W', C]``
  (``T' = T`` frames for image encoders, each frame resized to the model's
  size).

Arrays are saved as float32 (also under bf16 autocast on CUDA).

Encoders
--------
An exported encoder (:func:`load_exported_encoder`), a config's
``model.backbone`` with a runner checkpoint (:func:`load_config_encoder`), or
a transformers image model run on every frame (:func:`load_image_encoder`).
Weights are read weights-only: nothing in a checkpoint is run.

Unreadable videos
-----------------
:func:`extract_features` raises a ``VideoReadError`` naming the file (after
the readable videos of the same batch are saved), or with
``on_error='skip'`` records it in the manifest as ``failed`` with the reason.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data import get_worker_info

from ..datasets.video_dataset import UnlabeledVideoDataset, VideoReadError
from ..models.backbones import PerFrameImageEncoder, VisionTransformer3D
from ..models.teachers.frozen_video_teacher import read_encoder_state_dict
from ..utils.checkpoint_io import fsync_dir
from ..utils.encoder_export import config_backbone, encoder_architecture
from ..utils.encoder_loading import exported_json_path
from .feature_files import (MANIFEST, output_files, output_keys, output_stem,
                            save_outputs)

#: Suffixes of the files taken from a folder (case-insensitive).
VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.flv',
              '.mpg', '.mpeg', '.wmv')
#: ImageNet statistics on 0-255 pixels, as the configs' data preprocessors.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
POOL_CHOICES = ('mean', 'cls', 'projected')


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


# ------------------------------------------------------- preprocessing ----
def pipeline_cfg(num_frames: int = 16, frame_interval: Optional[int] = None,
                 num_clips: int = 1, short_side: int = 224,
                 crop_size: int = 224, backend: str = 'decord',
                 num_threads: int = 1, window: Optional[int] = None,
                 stride: Optional[int] = None) -> List[dict]:
    """Transforms from a file name to clips ``[N, C, T, H, W]``.

    ``UniformSample`` (one frame per equal segment, the segments' centres)
    by default, ``SampleFrames`` with ``test_mode=True`` (clips evenly spread
    over the video) with ``frame_interval``, or one clip per sliding window
    (``SampleSlidingWindows``; ``stride`` defaults to ``window``) with
    ``window``; decoded by ``backend`` with ``num_threads`` threads
    (``mmivnext.VideoInit``).
    """
    if window is not None:
        if frame_interval is not None or num_clips != 1:
            raise ValueError('a window takes one clip per window: it excludes '
                             'frame_interval and num_clips > 1')
        sample = dict(type='mmivnext.SampleSlidingWindows', window=window,
                      stride=window if stride is None else stride,
                      clip_len=num_frames)
    elif stride is not None:
        raise ValueError('stride is for sliding windows: give window too')
    elif frame_interval is None:
        sample = dict(type='UniformSample', clip_len=num_frames,
                      num_clips=num_clips, test_mode=True)
    else:
        sample = dict(type='SampleFrames', clip_len=num_frames,
                      frame_interval=frame_interval, num_clips=num_clips,
                      test_mode=True)
    return [
        dict(type='mmivnext.VideoInit', backend=backend,
             num_threads=num_threads),
        sample,
        dict(type='mmivnext.VideoDecode'),
        dict(type='Resize', scale=(-1, short_side)),
        dict(type='CenterCrop', crop_size=crop_size),
        dict(type='FormatShape', input_format='NCTHW'),
    ]


def build_pipeline(cfg: List[dict]) -> Compose:
    """Compose transforms (plain type names from mmaction's registry,
    ``'mmivnext.'`` ones from mmivnext's)."""
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


def is_windowed(pipeline: List[dict]) -> bool:
    """Whether ``pipeline`` samples sliding windows."""
    return any(t['type'].split('.')[-1] == 'SampleSlidingWindows'
               for t in pipeline)


class WindowClipDataset(IterableDataset):
    """Sliding-window clips of videos, ``max_windows`` at a time.

    Each video is opened once (the pipeline up to ``SampleSlidingWindows``);
    its windows are then decoded and transformed in chunks. Items, in window
    order per video (a DataLoader worker takes every ``num_workers``-th
    video): ``dict(index, imgs=uint8 [n, C, T, H, W], first=<window index of
    imgs[0]>, last=<bool>, window_frames=[W, 2], window_seconds=[W, 2])``, or
    ``dict(index, error=<reason>)`` once if the video fails (the caller drops
    the chunks it had).

    Args:
        videos (list[dict]): ``dict(name, filename)`` per video.
        pipeline (list[dict]): Transforms with ``SampleSlidingWindows``
            (:func:`pipeline_cfg` with a window).
        max_windows (int): Windows per item.
    """

    def __init__(self, videos: List[dict], pipeline: List[dict],
                 max_windows: int) -> None:
        names = [t['type'].split('.')[-1] for t in pipeline]
        if 'SampleSlidingWindows' not in names:
            raise ValueError('the pipeline has no SampleSlidingWindows: '
                             f'{names}')
        split = names.index('SampleSlidingWindows') + 1
        self.videos = videos
        self.head = build_pipeline(pipeline[:split]).transforms
        self.tail = build_pipeline(pipeline[split:]).transforms
        self.max_windows = max_windows

    def __iter__(self):
        worker = get_worker_info()
        first, step = (worker.id, worker.num_workers) if worker else (0, 1)
        for index in range(first, len(self.videos), step):
            yield from self._chunks(index)

    @staticmethod
    def _run(transforms, results):
        """Apply ``transforms``; the results, or the reason they failed."""
        for transform in transforms:
            try:
                results = transform(results)
            except Exception as err:  # reported per video by the caller
                return None, (f'{type(transform).__name__} raised '
                              f'{type(err).__name__}: {err}')
            if results is None:
                return None, f'{type(transform).__name__} returned None'
        return results, None

    def _chunks(self, index: int):
        opened, error = self._run(self.head, dict(
            filename=self.videos[index]['filename'], label=-1,
            start_index=0, modality='RGB'))
        if error is not None:
            yield dict(index=index, error=error)
            return
        windows = opened['window_frames']
        inds = opened['frame_inds'].reshape(len(windows), -1)  # [W, T]
        for start in range(0, len(windows), self.max_windows):
            part = inds[start:start + self.max_windows]
            results, error = self._run(self.tail, dict(
                opened, frame_inds=part.reshape(-1), num_clips=len(part)))
            if error is not None:
                yield dict(index=index, error=error)
                return
            yield dict(index=index, first=start,
                       last=start + len(part) == len(windows),
                       imgs=np.ascontiguousarray(results['imgs']),
                       window_frames=windows,
                       window_seconds=opened['window_seconds'])


def _as_is(batch):
    """DataLoader collate: the items (or item) as they are."""
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


# ----------------------------------------------------------------- loop ----
def extract_features(
        videos: List[dict],
        out_dir: str,
        encoder: Union[VisionTransformer3D, PerFrameImageEncoder],
        pipeline: List[dict],
        pooled: Optional[str] = None,
        tokens: bool = False,
        fmt: str = 'safetensors',
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        device: Union[str, torch.device] = 'cpu',
        batch_size: int = 8,
        num_workers: int = 4,
        on_error: str = 'raise',
        amp: bool = False,
        on_batch: Optional[Callable[[int, int], None]] = None,
        on_failure: Optional[Callable[[dict, str], None]] = None,
        manifest: str = MANIFEST) -> dict:
    """Extract and save the outputs of videos, appending to the manifest.

    Each video's files are written (:func:`~mmivnext.apis.feature_files.save_outputs`)
    before its manifest line is appended and fsynced, so an interrupted run
    loses at most the batch in flight. Which videos are still to do is
    :func:`~mmivnext.apis.feature_files.pending_videos`' business.

    Args:
        videos (list[dict]): ``dict(name, filename)`` per video
            (:func:`list_videos`).
        out_dir (str): The output folder (it must exist).
        encoder (VisionTransformer3D | PerFrameImageEncoder): With
            ``out_type='raw'``; moved to ``device`` and set to eval mode.
            ``pooled='projected'`` needs its projector.
        pipeline (list[dict]): Transforms (:func:`pipeline_cfg`); with
            ``SampleSlidingWindows``, one output per window.
        pooled (str, optional): One of :data:`POOL_CHOICES`, or None.
        tokens (bool): Save the patch-token grids.
        fmt (str): ``'safetensors'`` or ``'npy'``.
        mean (Sequence[float]): RGB mean on 0-255 pixels.
        std (Sequence[float]): RGB std on 0-255 pixels.
        device (str | torch.device): Where the encoder runs.
        batch_size (int): Videos per forward; windows per forward with
            sliding windows.
        num_workers (int): DataLoader workers decoding videos.
        on_error (str): Unreadable videos: ``'raise'`` a ``VideoReadError``,
            or ``'skip'``: record them as failed and go on.
        amp (bool): bf16 autocast (CUDA only); outputs stay float32.
        on_batch (Callable, optional): Called after each batch with the
            number of its videos and the failures so far.
        on_failure (Callable, optional): Called with the video and the reason
            of each failure recorded under ``on_error='skip'``.
        manifest (str): The manifest file in ``out_dir`` to append to
            (:func:`~mmivnext.apis.feature_files.shard_manifest` for a shard).

    Returns:
        dict: ``done`` and ``failed`` counts and ``failed_videos`` (names).
    """
    device = torch.device(device)
    windowed = is_windowed(pipeline)
    keys = output_keys(pooled, tokens, windowed)
    encoder = encoder.to(device).eval()
    mean = torch.tensor(mean, device=device).view(1, 3, 1, 1, 1)
    std = torch.tensor(std, device=device).view(1, 3, 1, 1, 1)
    counts = dict(done=0, failed=0, failed_videos=[])

    def run_encoder(imgs: List[np.ndarray]) -> Dict[str, torch.Tensor]:
        clips = torch.cat([torch.from_numpy(i) for i in imgs])
        clips = (clips.to(device).float() - mean) / std  # [N, C, T, H, W]
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=amp):
            return encode(encoder, clips, pooled, tokens)

    if windowed:
        loader = DataLoader(WindowClipDataset(videos, pipeline, batch_size),
                            batch_size=None, num_workers=num_workers,
                            collate_fn=_as_is)
    else:
        loader = DataLoader(ClipDataset(videos, pipeline),
                            batch_size=batch_size, shuffle=False,
                            num_workers=num_workers, collate_fn=_as_is)
    with open(osp.join(out_dir, manifest), 'a') as manifest_file:
        fsync_dir(out_dir)  # the manifest's entry, if just created

        def log(record):  # durable before the next video is counted done
            manifest_file.write(json.dumps(record) + '\n')
            manifest_file.flush()
            os.fsync(manifest_file.fileno())

        def save(video, arrays, **extra):
            files = output_files(output_stem(video['name']), keys, fmt)
            save_outputs(out_dir, files, arrays, fmt)
            log(dict(video=video['name'], filename=video['filename'],
                     status='done', outputs=files, **extra,
                     shapes={k: list(v.shape) for k, v in arrays.items()}))
            counts['done'] += 1

        def fail(video, error):
            if on_error == 'raise':
                raise VideoReadError(video['filename'], error)
            log(dict(video=video['name'], filename=video['filename'],
                     status='failed', error=error))
            counts['failed'] += 1
            counts['failed_videos'].append(video['name'])
            if on_failure is not None:
                on_failure(video, error)

        if windowed:
            partial: Dict[int, List[Dict[str, torch.Tensor]]] = {}
            for item in loader:
                video = videos[item['index']]
                if 'error' in item:
                    partial.pop(item['index'], None)
                    fail(video, item['error'])
                    if on_batch is not None:
                        on_batch(1, counts['failed'])
                    continue
                outs = run_encoder([item['imgs']])  # [n, ...] per key
                partial.setdefault(item['index'], []).append(
                    {k: v.float().cpu() for k, v in outs.items()})
                if not item['last']:
                    continue
                chunks = partial.pop(item['index'])
                arrays = {k: torch.cat([c[k] for c in chunks])
                          for k in chunks[0]}  # [W, ...]
                arrays['window_frames'] = torch.from_numpy(
                    item['window_frames'])
                arrays['window_seconds'] = torch.from_numpy(
                    item['window_seconds'])
                save(video, arrays, num_windows=len(item['window_frames']))
                if on_batch is not None:
                    on_batch(1, counts['failed'])
            return counts

        for batch in loader:
            ok = [item for item in batch if 'imgs' in item]
            if ok:
                outs = run_encoder([item['imgs'] for item in ok])
                start = 0
                for item in ok:
                    n = item['imgs'].shape[0]  # clips of this video
                    save(videos[item['index']],
                         {k: v[start:start + n].float().mean(dim=0)
                          for k, v in outs.items()}, num_clips=n)
                    start += n
            for item in batch:
                if 'error' in item:
                    fail(videos[item['index']], item['error'])
            if on_batch is not None:
                on_batch(len(batch), counts['failed'])
    return counts
