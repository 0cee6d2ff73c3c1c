"""A small synthetic box-tracking set: moving shapes with their boxes.

Each sequence shows 1 to ``max_objects`` filled rectangles and ellipses over a
textured, flickering background. Every object has its own colour, size, start
point and constant velocity, and bounces off the frame's borders, so its box
always lies inside the frame. Some objects vanish for 1-3 frames (not drawn,
not annotated), which gives missing frames to the visibility masks and lets
the window rules reject some windows. Objects drawn later cover earlier ones;
a covered object is still annotated with its full box.

It is written in the exact layout of the tracking probe's data, with the
per-frame annotation format of :mod:`mmivnext.datasets.tracking_windows`::

    <out_dir>/
      frames/train_0000/000000.jpg ...   # <sequence>/<frame:06d>.jpg, RGB
      frames/val_0000/000000.jpg ...
      annotations_train.json             # per-frame boxes (tracking_windows)
      annotations_val.json

The frames are square and already at their final size (``size``), so building
the windows with ``resize_short=size, crop_size=size`` maps boxes unchanged,
and with ``target_fps=fps`` keeps every frame::

    python tools/data/build_tracking_windows.py \\
        <out_dir>/annotations_train.json <out_dir>/windows_train.json \\
        --target-fps 5 --resize-short 56 --crop-size 56

Everything random comes from ``numpy.random.default_rng([seed, split,
index])``, one generator per sequence: the same seed gives the same files,
and a larger set begins with the sequences of a smaller one.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ..datasets.tracking_windows import DEFAULT_FRAME_TMPL

SYNTHETIC_SHAPES = ('rectangle', 'ellipse')
SPLITS = ('train', 'val')
#: Half-size of an object (each axis), as a fraction of the frame size.
HALF_SIZE_RANGE = (0.08, 0.2)
#: Speed of an object (each axis), as a fraction of the frame size per frame.
SPEED_RANGE = (0.01, 0.04)
#: Chance that an object vanishes once, for 1 to 3 frames (never frame 0).
HIDE_PROBABILITY = 0.3
MIN_SIZE = 16
_SHIFT = 4  # sub-pixel bits of cv2 drawing


def _bounce(start: float, velocity: float, low: float, high: float,
            num_frames: int) -> np.ndarray:
    """Positions ``[T]`` moving at ``velocity`` and reflected into
    ``[low, high]``."""
    span = high - low
    raw = start - low + velocity * np.arange(num_frames)  # unfolded path
    folded = np.mod(raw, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def render_tracking_sequence(num_frames: int, size: int, max_objects: int,
                             rng: np.random.Generator
                             ) -> Tuple[np.ndarray, List[list]]:
    """Render one sequence and its per-frame boxes.

    Args:
        num_frames (int): Frames, at least 2.
        size (int): Height and width in pixels, at least ``MIN_SIZE``.
        max_objects (int): Most objects; the count is drawn from
            ``[1, max_objects]``.
        rng (np.random.Generator): Source of every random choice.

    Returns:
        tuple: ``[T, H, W, 3]`` uint8 RGB frames, and per frame a list of
        ``dict(track_id=int, box=[x1, y1, x2, y2])`` of the objects drawn in
        it (continuous pixel coordinates: pixel ``(i, j)`` covers
        ``[i, i + 1] x [j, j + 1]``).
    """
    if num_frames < 2 or size < MIN_SIZE or max_objects < 1:
        raise ValueError(f'need num_frames >= 2, size >= {MIN_SIZE} and '
                         f'max_objects >= 1, got num_frames={num_frames}, '
                         f'size={size}, max_objects={max_objects}')
    dark = rng.random() < 0.5
    bg_colour = rng.integers(20, 90, 3) if dark else rng.integers(165, 235, 3)
    texture = bg_colour + rng.normal(0, 12, (size, size, 3))  # [H, W, 3]

    objects = []
    for track_id in range(int(rng.integers(1, max_objects + 1))):
        half = rng.uniform(*HALF_SIZE_RANGE, 2) * size  # (half w, half h)
        start = rng.uniform(half, size - half)  # centre (x, y)
        speed = rng.uniform(*SPEED_RANGE, 2) * size * rng.choice([-1, 1], 2)
        centres = np.stack([
            _bounce(start[a], speed[a], half[a], size - half[a], num_frames)
            for a in range(2)], axis=1)  # [T, 2]
        hidden = np.zeros(num_frames, bool)
        if rng.random() < HIDE_PROBABILITY:
            length = int(rng.integers(1, 4))
            first = int(rng.integers(1, max(2, num_frames - length + 1)))
            hidden[first:first + length] = True
        colour = rng.integers(170, 256, 3) if dark else rng.integers(0, 86, 3)
        objects.append(dict(
            track_id=track_id,
            shape=SYNTHETIC_SHAPES[int(rng.integers(len(SYNTHETIC_SHAPES)))],
            half=half, centres=centres, hidden=hidden,
            colour=tuple(int(c) for c in colour)))

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    annotations = []
    for t in range(num_frames):
        noise = rng.normal(0, 3, (size, size, 3))
        frame = np.clip(texture + rng.uniform(-6, 6) + noise, 0, 255)
        frame = frame.astype(np.uint8)
        boxes = []
        for obj in objects:
            if obj['hidden'][t]:
                continue
            (cx, cy), (hw, hh) = obj['centres'][t], obj['half']
            _draw(frame, obj['shape'], cx, cy, hw, hh, obj['colour'])
            boxes.append(dict(track_id=obj['track_id'], box=[
                round(float(v), 3) for v in (cx - hw, cy - hh, cx + hw,
                                             cy + hh)]))
        frames[t] = frame
        annotations.append(boxes)
    return frames, annotations


def _draw(frame: np.ndarray, shape: str, cx: float, cy: float, hw: float,
          hh: float, colour: tuple) -> None:
    """Fill a shape with the box ``[cx -+ hw] x [cy -+ hh]`` in place.

    cv2 puts the centre of pixel ``i`` at ``i``; the box is in continuous
    coordinates where it is at ``i + 0.5``.
    """
    scale = 1 << _SHIFT
    if shape == 'rectangle':
        pt1 = (round((cx - hw) * scale), round((cy - hh) * scale))
        pt2 = (round((cx + hw - 1) * scale), round((cy + hh - 1) * scale))
        cv2.rectangle(frame, pt1, pt2, colour, -1, cv2.LINE_AA, _SHIFT)
    else:
        centre = (round((cx - 0.5) * scale), round((cy - 0.5) * scale))
        axes = (round((hw - 0.5) * scale), round((hh - 0.5) * scale))
        cv2.ellipse(frame, centre, axes, 0, 0, 360, colour, -1, cv2.LINE_AA,
                    _SHIFT)


def make_synthetic_tracking(out_dir: str = 'data/synthetic_tracking',
                            num_train: int = 8,
                            num_val: int = 4,
                            num_frames: int = 24,
                            size: int = 56,
                            fps: float = 5.0,
                            max_objects: int = 3,
                            seed: int = 0) -> Dict[str, str]:
    """Write the synthetic set (see the module docstring for the layout).

    Args:
        out_dir (str): Folder to write into; created if needed. Files of the
            same names are overwritten.
        num_train (int): Training sequences. Defaults to 8.
        num_val (int): Validation sequences. Defaults to 4.
        num_frames (int): Frames per sequence. Defaults to 24 (three 16-frame
            windows at most, starting 3 frames apart).
        size (int): Height and width in pixels. Defaults to 56.
        fps (float): Frame rate written into the annotations. Defaults to 5.
        max_objects (int): Most objects per sequence. Defaults to 3.
        seed (int): Seed of every random choice. Defaults to 0.

    Returns:
        dict: ``root`` (``out_dir``), ``frames_root`` (``<out_dir>/frames``),
        ``train_annotations`` and ``val_annotations`` (per-frame annotation
        files).
    """
    paths = dict(root=out_dir, frames_root=osp.join(out_dir, 'frames'))
    for split_index, (split, count) in enumerate(
            zip(SPLITS, (num_train, num_val))):
        sequences = []
        for i in range(count):
            rng = np.random.default_rng([seed, split_index, i])
            frames, boxes = render_tracking_sequence(num_frames, size,
                                                     max_objects, rng)
            name = f'{split}_{i:04d}'
            folder = osp.join(paths['frames_root'], name)
            os.makedirs(folder, exist_ok=True)
            for t, frame in enumerate(frames):
                path = osp.join(folder, DEFAULT_FRAME_TMPL.format(t))
                if not cv2.imwrite(path, cv2.cvtColor(frame,
                                                      cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, 95]):
                    raise OSError(f'cannot write frame {path!r}')
            sequences.append(dict(name=name, fps=fps, frame_size=[size, size],
                                  frames=boxes))
        paths[f'{split}_annotations'] = osp.join(out_dir,
                                                 f'annotations_{split}.json')
        with open(paths[f'{split}_annotations'], 'w') as f:
            json.dump(dict(sequences=sequences), f)
    return paths
