"""Sample video frames at given times (seconds), for clips defined in time
rather than in frame indices (e.g. the EK100 anticipation contexts)."""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmivnext.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SampleFramesByTime(BaseTransform):
    """Turn ``frame_times`` (seconds) into frame indices of the video.

    Frame ``k`` of a video at ``avg_fps`` is shown during
    ``[k / avg_fps, (k + 1) / avg_fps)``, so the frame at time ``t`` is
    ``floor(t * avg_fps)`` (``t * avg_fps`` is rounded to 6 decimals first,
    so that float error cannot move a time that falls on a frame boundary to
    the frame before). Times must be ``>= 0`` and fall inside the video; a
    time past its last frame raises a ValueError naming the file, the time
    and the frame count (an annotation beyond the video's end), which the
    dataset reports as a read error of that file.

    Use it after ``mmivnext.VideoInit`` or ``mmaction.DecordInit`` (which add
    ``avg_fps`` and ``total_frames``) and before the matching decode step.

    Required Keys:

        - frame_times (Sequence[float]): ``[T]`` times in seconds.
        - avg_fps (float)
        - total_frames (int)
        - filename (str, optional): Named in errors.

    Added Keys:

        - frame_inds (np.ndarray): ``[T]`` int64 frame indices.
        - clip_len (int): ``T``.
        - num_clips (int): 1.
        - frame_interval (None): the times need not be evenly spaced.
    """

    def transform(self, results: Dict) -> Dict:
        """Add ``frame_inds`` for ``results['frame_times']``."""
        missing = [k for k in ('frame_times', 'avg_fps', 'total_frames')
                   if k not in results]
        if missing:
            raise KeyError(f'SampleFramesByTime needs {missing} in the '
                           'results (frame_times from the dataset; avg_fps '
                           'and total_frames from VideoInit or DecordInit).')
        times = np.asarray(results['frame_times'], dtype=np.float64)
        fps, total = float(results['avg_fps']), int(results['total_frames'])
        filename = results.get('filename', '<unknown file>')
        if times.ndim != 1 or times.size == 0:
            raise ValueError(f'frame_times must be a non-empty list of '
                             f'seconds, got shape {times.shape}.')
        if not fps > 0:
            raise ValueError(f'{filename}: the video reports {fps} fps.')
        if times.min() < 0:
            raise ValueError(
                f'{filename}: frame_times must be >= 0, got {times.min()} s '
                '(the dataset clamps or drops contexts that start before '
                'the video).')
        inds = np.floor(np.round(times * fps, 6)).astype(np.int64)
        if inds.max() >= total:
            t = times[inds.argmax()]
            raise ValueError(
                f'{filename}: frame time {t:.3f} s is frame {inds.max()}, but '
                f'the video has {total} frames ({total / fps:.3f} s at '
                f'{fps:g} fps).')
        results['frame_inds'] = inds
        results['clip_len'] = len(inds)
        results['num_clips'] = 1
        results['frame_interval'] = None
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
