"""Open and decode video files with a choice of decoder: decord, PyAV or
torchcodec.

``VideoInit(backend=...)`` opens the file and adds ``total_frames`` and
``avg_fps``; a sampler (``mmaction.UniformSample``, ``SampleFrames``,
:class:`SampleFramesByTime`...) turns them into ``frame_inds``;
``VideoDecode`` reads those frames. The sampler sees the same
``total_frames`` whatever the backend, so every backend decodes the same
frames; the pixels differ only by the YUV -> RGB conversion of each decoder's
FFmpeg (well under the codec's own error, checked in
``tests/test_datasets/test_transforms/test_video_decode.py``).

Backends (:data:`VIDEO_BACKENDS`):

- ``'decord'``: ``decord.VideoReader`` and its ``get_batch``, as
  ``mmaction.DecordInit`` / ``DecordDecode`` (the default; decord bundles its
  own FFmpeg). ``decord2``, the maintained fork, installs the same ``decord``
  module with the same ``VideoReader`` API and is a drop-in replacement
  (uninstall ``decord`` first: both own the ``decord`` folder).
- ``'pyav'``: ``av`` (PyAV, whose wheels bundle FFmpeg). Frame ``k`` is the
  ``k``-th presentation timestamp of the video stream's packets, as decord
  counts them; a read seeks to the key frame before a wanted frame only when
  that skips decoding. mmaction2's ``PyAVInit`` / ``PyAVDecode`` are not used:
  ``PyAVInit`` takes ``total_frames`` from the container header (0 for some
  containers) and adds no ``avg_fps``, and ``PyAVDecode`` keeps every frame
  up to the last wanted one in memory and silently wraps indices past the
  decoded ones (``imgs[i % len(imgs)]``).
- ``'torchcodec'``: ``torchcodec.decoders.VideoDecoder`` with
  ``seek_mode='exact'`` (the frame count from a scan of the file, as the
  others). An optional extra (``pip install torchcodec``): it loads the
  system's FFmpeg libraries (4 to 8) and needs the torchcodec build matching
  the installed torch (CPU or CUDA).

Threads: ``num_threads`` is the decoder threads per open video, 1 by default
(one DataLoader worker per core; what mmaction2's ``DecordInit`` uses). 0
lets FFmpeg choose (about one per core, for decoding in the main process).
decord passes it to ``VideoReader(num_threads=)``, PyAV to the codec
context's ``thread_count`` (with frame and slice threading when not 1),
torchcodec to ``num_ffmpeg_threads``.
"""
from typing import Dict, List, Optional

import numpy as np
from mmaction.datasets.transforms import DecordDecode
from mmcv.transforms import BaseTransform

from mmivnext.registry import TRANSFORMS

#: The decoders of :class:`VideoInit`.
VIDEO_BACKENDS = ('decord', 'pyav', 'torchcodec')
_MODULES = dict(decord='decord', pyav='av', torchcodec='torchcodec')


def backend_import_error(backend: str) -> Optional[str]:
    """Why ``backend``'s library cannot be imported here, or None if it can.

    torchcodec raises at import (an OSError or RuntimeError, not an
    ImportError) when the system's FFmpeg libraries or its torch build do not
    fit; that is reported here too.
    """
    if backend not in VIDEO_BACKENDS:
        raise ValueError(f'backend must be one of {VIDEO_BACKENDS}, got '
                         f'{backend!r}')
    try:
        if backend == 'torchcodec':
            from torchcodec.decoders import VideoDecoder  # noqa: F401
        else:
            __import__(_MODULES[backend])
    except Exception as err:  # noqa: BLE001  (any failure means unusable)
        first = str(err).splitlines()[0] if str(err) else ''
        return f'{type(err).__name__}: {first}'
    return None


def available_video_backends() -> List[str]:
    """The backends of :data:`VIDEO_BACKENDS` whose library imports here."""
    return [b for b in VIDEO_BACKENDS if backend_import_error(b) is None]


class DecordReader:
    """A video opened with ``decord.VideoReader``.

    Attributes:
        num_frames (int): Frames of the video.
        fps (float): Average frame rate.
    """

    def __init__(self, filename: str, num_threads: int) -> None:
        import decord
        self._reader = decord.VideoReader(filename, num_threads=num_threads)
        self.num_frames = len(self._reader)
        self.fps = float(self._reader.get_avg_fps())

    def read(self, frame_inds: np.ndarray) -> np.ndarray:
        """Frames ``frame_inds`` (``[T]``) as ``[T, H, W, 3]`` uint8 RGB."""
        return self._reader.get_batch(list(frame_inds)).asnumpy()


class PyAVReader:
    """A video opened with PyAV (see the module notes on frame numbers).

    Attributes:
        num_frames (int): Frames of the video: packets with a timestamp.
        fps (float): ``average_rate`` of the stream (``guessed_rate`` if it
            has none).
    """

    def __init__(self, filename: str, num_threads: int) -> None:
        import av
        self._container = av.open(filename)
        if not self._container.streams.video:
            raise ValueError(f'{filename}: no video stream')
        self._stream = stream = self._container.streams.video[0]
        stream.codec_context.thread_count = num_threads
        if num_threads != 1:
            stream.thread_type = 'AUTO'
        packets = [(p.pts, p.is_keyframe)
                   for p in self._container.demux(stream)
                   if p.size and p.pts is not None]
        if not packets:
            raise ValueError(f'{filename}: the video stream has no packets '
                             'with timestamps')
        packets.sort()
        self._pts = [pts for pts, _ in packets]  # [num_frames], increasing
        self._index = {pts: k for k, pts in enumerate(self._pts)}
        key = np.array([is_key for _, is_key in packets])
        key[0] = True  # decoding starts at the first packet
        # Index of the last key frame at or before each frame.
        self._key_before = np.maximum.accumulate(
            np.where(key, np.arange(len(key)), 0))
        self.num_frames = len(self._pts)
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else float('nan')
        self.filename = filename

    def read(self, frame_inds: np.ndarray) -> np.ndarray:
        """Frames ``frame_inds`` (``[T]``) as ``[T, H, W, 3]`` uint8 RGB.

        Raises:
            IndexError: An index is outside ``[0, num_frames)``.
            ValueError: The decoder returns a frame whose timestamp no packet
                had, or skips the wanted one.
        """
        frame_inds = np.asarray(frame_inds, dtype=np.int64)
        bad = frame_inds[(frame_inds < 0) | (frame_inds >= self.num_frames)]
        if bad.size:
            raise IndexError(f'{self.filename}: frame {int(bad[0])} is '
                             f'outside [0, {self.num_frames})')
        frames: Dict[int, np.ndarray] = {}
        decoded, position = None, None  # frame iterator, its last index
        for wanted in np.unique(frame_inds).tolist():
            key = int(self._key_before[wanted])
            if position is None or wanted <= position or key > position:
                self._container.seek(self._pts[key], stream=self._stream,
                                     backward=True, any_frame=False)
                decoded = self._container.decode(self._stream)
                position = None
            for frame in decoded:
                position = self._index.get(frame.pts)
                if position is None:
                    raise ValueError(f'{self.filename}: decoded a frame with '
                                     f'timestamp {frame.pts}, which no '
                                     'packet has')
                if position >= wanted:
                    break
            if position != wanted:
                raise ValueError(f'{self.filename}: the decoder skipped '
                                 f'frame {wanted} (stopped at {position})')
            frames[wanted] = frame.to_ndarray(format='rgb24')
        return np.stack([frames[i] for i in frame_inds.tolist()])


class TorchCodecReader:
    """A video opened with torchcodec's ``VideoDecoder`` (exact seeks).

    Attributes:
        num_frames (int): Frames of the video.
        fps (float): Average frame rate.
    """

    def __init__(self, filename: str, num_threads: int) -> None:
        from torchcodec.decoders import VideoDecoder
        self._decoder = VideoDecoder(
            filename, dimension_order='NHWC', num_ffmpeg_threads=num_threads,
            seek_mode='exact', device='cpu')
        self.num_frames = len(self._decoder)
        fps = self._decoder.metadata.average_fps
        self.fps = float(fps) if fps else float('nan')

    def read(self, frame_inds: np.ndarray) -> np.ndarray:
        """Frames ``frame_inds`` (``[T]``) as ``[T, H, W, 3]`` uint8 RGB."""
        batch = self._decoder.get_frames_at(
            indices=[int(i) for i in frame_inds])
        return batch.data.numpy()


_READERS = dict(decord=DecordReader, pyav=PyAVReader,
                torchcodec=TorchCodecReader)


def open_video(filename: str, backend: str = 'decord',
               num_threads: int = 1):
    """Open ``filename`` with ``backend``: a reader with ``num_frames``,
    ``fps`` and ``read(frame_inds) -> [T, H, W, 3]`` uint8 RGB.

    Raises:
        ValueError: Unknown backend.
        ImportError: The backend's library cannot be imported (the reason and
            how to install it are named).
    """
    problem = backend_import_error(backend)
    if problem is not None:
        hint = dict(decord='pip install decord (or decord2)',
                    pyav='pip install av',
                    torchcodec='pip install torchcodec, with FFmpeg 4-8 '
                    'installed on the system and a torchcodec build that '
                    'matches torch')[backend]
        raise ImportError(f'video backend {backend!r} is not usable here '
                          f'({problem}); {hint}')
    return _READERS[backend](filename, num_threads)


@TRANSFORMS.register_module()
class VideoInit(BaseTransform):
    """Open a video with a chosen decoder (see the module notes).

    Required Keys:

        - filename (str)

    Added Keys:

        - video_reader: The open video, for :class:`VideoDecode`.
        - total_frames (int)
        - avg_fps (float)

    Args:
        backend (str): One of :data:`VIDEO_BACKENDS`. Defaults to
            ``'decord'``.
        num_threads (int): Decoder threads per video; 0 lets FFmpeg choose.
            Defaults to 1.
    """

    def __init__(self, backend: str = 'decord', num_threads: int = 1) -> None:
        if backend not in VIDEO_BACKENDS:
            raise ValueError(f'backend must be one of {VIDEO_BACKENDS}, got '
                             f'{backend!r}')
        if num_threads < 0:
            raise ValueError(f'num_threads must be >= 0, got {num_threads}')
        self.backend = backend
        self.num_threads = num_threads

    def transform(self, results: Dict) -> Dict:
        """Open ``results['filename']`` and add its frame count and rate."""
        reader = open_video(results['filename'], self.backend,
                            self.num_threads)
        results['video_reader'] = reader
        results['total_frames'] = reader.num_frames
        results['avg_fps'] = reader.fps
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(backend={self.backend!r}, '
                f'num_threads={self.num_threads})')


@TRANSFORMS.register_module()
class VideoDecode(DecordDecode):
    """Decode ``frame_inds`` of a video opened by :class:`VideoInit`.

    ``mmaction.DecordDecode`` in accurate mode with the reader of any
    backend: the same keys, and boxes scaled the same way.

    Required Keys:

        - video_reader: From :class:`VideoInit`.
        - frame_inds (np.ndarray): ``[N * T]`` frame indices.

    Added Keys:

        - imgs (list[np.ndarray]): ``N * T`` frames ``[H, W, 3]`` uint8 RGB.
        - original_shape, img_shape (tuple[int, int])

    Modified Keys:

        - video_reader: Set to None (the reader is released).
    """

    def __init__(self) -> None:
        super().__init__(mode='accurate')

    def _decord_load_frames(self, container,
                            frame_inds: np.ndarray) -> List[np.ndarray]:
        return list(container.read(frame_inds))

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
