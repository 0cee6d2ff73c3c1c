"""Clips from sliding windows over the whole video, for features of long
videos (temporal action localisation)."""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmivnext.registry import TRANSFORMS


def sliding_windows(total_frames: int, window: int,
                    stride: int) -> np.ndarray:
    """``[W, 2]`` int64 ``(start, end)`` frame ranges (end exclusive).

    Windows of ``window`` frames start every ``stride`` frames from frame 0;
    if the last of them stops before the video's end, one more window ends
    on its last frame, so every frame is covered. A video shorter than
    ``window`` gives one window over all of it.
    """
    if total_frames < 1:
        raise ValueError(f'the video has {total_frames} frames')
    if total_frames <= window:
        return np.array([[0, total_frames]], dtype=np.int64)
    starts = list(range(0, total_frames - window + 1, stride))
    if starts[-1] + window < total_frames:
        starts.append(total_frames - window)
    starts = np.array(starts, dtype=np.int64)
    return np.stack([starts, starts + window], axis=1)


@TRANSFORMS.register_module()
class SampleSlidingWindows(BaseTransform):
    """One clip of ``clip_len`` frames per sliding window of the video.

    The windows are :func:`sliding_windows`; a window of ``L`` frames gives
    the centres of ``clip_len`` equal segments, ``start + floor((k + 0.5) *
    L / clip_len)``: ``clip_len`` consecutive frames if ``L == clip_len``,
    every other frame if ``L == 2 * clip_len``, repeated frames if the
    window is shorter than the clip.

    Required Keys:

        - total_frames (int)
        - avg_fps (float): From ``VideoInit`` / ``DecordInit``.

    Added Keys:

        - frame_inds (np.ndarray): ``[W * clip_len]`` int64, window by window.
        - clip_len (int)
        - num_clips (int): ``W``, the number of windows.
        - frame_interval (None)
        - window_frames (np.ndarray): ``[W, 2]`` int64 start and end
          (exclusive) frames.
        - window_seconds (np.ndarray): ``[W, 2]`` float64 ``window_frames /
          avg_fps``: frame ``k`` is shown during ``[k / fps, (k + 1) / fps)``.

    Args:
        window (int): Frames of the video per window.
        stride (int): Frames between the starts of consecutive windows.
        clip_len (int): Frames sampled from each window.
    """

    def __init__(self, window: int, stride: int, clip_len: int) -> None:
        for name, value in (('window', window), ('stride', stride),
                            ('clip_len', clip_len)):
            if value < 1:
                raise ValueError(f'{name} must be >= 1, got {value}')
        self.window = window
        self.stride = stride
        self.clip_len = clip_len

    def transform(self, results: Dict) -> Dict:
        """Add the windows and the frame indices of their clips."""
        fps = float(results['avg_fps'])
        if not fps > 0:
            raise ValueError(f'{results.get("filename", "<unknown file>")}: '
                             f'the video reports {fps} fps')
        windows = sliding_windows(int(results['total_frames']), self.window,
                                  self.stride)
        length = windows[:, 1:] - windows[:, :1]  # [W, 1]
        offsets = np.floor((np.arange(self.clip_len) + 0.5) * length /
                           self.clip_len).astype(np.int64)  # [W, T]
        results['frame_inds'] = (windows[:, :1] + offsets).reshape(-1)
        results['clip_len'] = self.clip_len
        results['num_clips'] = len(windows)
        results['frame_interval'] = None
        results['window_frames'] = windows
        results['window_seconds'] = windows / fps
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(window={self.window}, '
                f'stride={self.stride}, clip_len={self.clip_len})')
