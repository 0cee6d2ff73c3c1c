"""A small synthetic labelled video set, written as real mp4 files.

Each clip shows one shape (circle, square or triangle) moving in a straight line
(left, right, up or down) over a textured, jittering background. The class is the
pair (shape, direction): 12 classes, ``label = 4 * shape_index + direction_index``
as listed in :data:`DEMO_CLASSES`. Direction needs several frames to tell, and
left/right are mirror images of each other, so the set rewards temporal modelling
and must not be flipped horizontally when its labels are used.

Everything random comes from ``numpy.random.default_rng([seed, split, index])``,
one generator per video: the same seed gives the same frames, and a larger set
begins with the videos of a smaller one. Used by the demo configs and the tests;
``tools/data/make_demo_videos.py`` is its command line.

Layout written by :func:`make_demo_videos`::

    <out_dir>/
      classes.txt            # one class name per line, line i is label i
      train.txt              # "train/video_00000.mp4 <label>" per line
      val.txt                # "val/video_00000.mp4 <label>" per line
      train/video_00000.mp4 ...
      val/video_00000.mp4 ...
"""
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

DEMO_SHAPES = ('circle', 'square', 'triangle')
#: Directions of motion in image coordinates (x right, y down).
DEMO_DIRECTIONS = ('left', 'right', 'up', 'down')
DIRECTION_VECTORS = {
    'left': (-1, 0),
    'right': (1, 0),
    'up': (0, -1),
    'down': (0, 1),
}
DEMO_CLASSES = tuple(f'{shape}_{direction}' for shape in DEMO_SHAPES
                     for direction in DEMO_DIRECTIONS)
SPLITS = ('train', 'val')

# Shape radius and travelled distance, as fractions of the frame size; together
# they keep the whole path inside frames of at least MIN_SIZE pixels.
RADIUS_RANGE = (0.10, 0.18)
DISTANCE_RANGE = (0.30, 0.50)
MIN_SIZE = 16
_SHIFT = 4  # sub-pixel bits for cv2 drawing: positions in 1/16 pixel


def render_demo_clip(label: int, num_frames: int, size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Render one clip of class ``label``.

    The background has a random dark or light colour, a static noise texture,
    per-frame noise and a per-frame brightness jitter; the shape has a solid
    colour on the other side of the brightness range, a random size, start
    point and speed, and moves in a straight line with sub-pixel steps.

    Args:
        label (int): Class index into :data:`DEMO_CLASSES`.
        num_frames (int): Frames in the clip, at least 2.
        size (int): Height and width in pixels, at least ``MIN_SIZE``.
        rng (np.random.Generator): Source of every random choice.

    Returns:
        np.ndarray: ``[T, H, W, 3]`` uint8 frames in RGB order.
    """
    if not 0 <= label < len(DEMO_CLASSES):
        raise ValueError(f'label must be in [0, {len(DEMO_CLASSES)}), '
                         f'got {label}')
    if num_frames < 2 or size < MIN_SIZE:
        raise ValueError(f'need num_frames >= 2 and size >= {MIN_SIZE}, got '
                         f'num_frames={num_frames}, size={size}')
    shape = DEMO_SHAPES[label // len(DEMO_DIRECTIONS)]
    dx, dy = DIRECTION_VECTORS[DEMO_DIRECTIONS[label % len(DEMO_DIRECTIONS)]]

    dark = rng.random() < 0.5
    bg_colour = rng.integers(20, 90, 3) if dark else rng.integers(165, 235, 3)
    colour = rng.integers(170, 256, 3) if dark else rng.integers(0, 86, 3)
    texture = bg_colour + rng.normal(0, 10, (size, size, 3))  # [H, W, 3]

    radius = rng.uniform(*RADIUS_RANGE) * size
    distance = rng.uniform(*DISTANCE_RANGE) * size
    low, high = radius + 1, size - 1 - radius  # centre range inside the frame
    # Along the motion the whole path fits in [low, high]; across it, anywhere.
    along = rng.uniform(low, high - distance)
    across = rng.uniform(low, high)
    if dx != 0:
        x0, y0 = (along if dx > 0 else size - along), across
    else:
        x0, y0 = across, (along if dy > 0 else size - along)
    step = distance / (num_frames - 1)

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        jitter = rng.uniform(-6, 6)
        noise = rng.normal(0, 3, (size, size, 3))
        frame = np.clip(texture + jitter + noise, 0, 255).astype(np.uint8)
        _draw_shape(frame, shape, x0 + dx * step * t, y0 + dy * step * t,
                    radius, tuple(int(c) for c in colour))
        frames[t] = frame
    return frames


def _draw_shape(frame: np.ndarray, shape: str, cx: float, cy: float,
                radius: float, colour: tuple) -> None:
    """Draw a filled shape centred on ``(cx, cy)`` into ``frame`` in place."""
    scale = 1 << _SHIFT
    if shape == 'circle':
        centre = (round(cx * scale), round(cy * scale))
        cv2.circle(frame, centre, round(radius * scale), colour, -1,
                   cv2.LINE_AA, _SHIFT)
        return
    if shape == 'square':
        half = 0.85 * radius  # about the area of the circle
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    else:  # triangle pointing up, inscribed in the circle of ``radius``
        corners = [(0, -radius), (radius * 0.866, radius / 2),
                   (-radius * 0.866, radius / 2)]
    points = np.array([(round((cx + x) * scale), round((cy + y) * scale))
                       for x, y in corners], np.int32)
    cv2.fillConvexPoly(frame, points, colour, cv2.LINE_AA, _SHIFT)


def write_mp4(path: str, frames: np.ndarray, fps: float) -> None:
    """Write ``[T, H, W, 3]`` uint8 RGB frames as an mp4 ('mp4v') file."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot open an mp4v writer for {path!r}; '
                           'is opencv built with FFmpeg?')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def check_decodes(path: str, frames: np.ndarray) -> None:
    """Check that decord reads ``path`` back as ``frames``, up to compression.

    Why: decord 0.6.0 mis-decodes some small frame sizes (16, 24, 48 and 72
    px wide among those tried; 32, 40, 56, 64 and 80 work): ``get_batch``
    raises ``DECORDError: ... The size must exactly match`` and indexing
    returns frames with 4 or 6 channels. A demo set in such a size would
    fail every pipeline, so it is refused when written.

    Raises:
        RuntimeError: If decord fails, or returns other shapes or frames far
            from ``frames`` (mean absolute difference over 20 grey levels).
    """
    import decord
    try:
        reader = decord.VideoReader(path)
        decoded = reader.get_batch(list(range(len(frames)))).asnumpy()
    except decord.DECORDError as err:
        raise RuntimeError(
            f'decord cannot decode {path!r}, written with frames of shape '
            f'{frames.shape[1:]}: {str(err).splitlines()[0]}. decord '
            'mis-decodes some small sizes (16, 24, 48, 72 px); choose '
            'another size (32, 40, 56, 64, 80 px work).') from err
    error = np.abs(decoded.astype(np.float32) - frames).mean() \
        if decoded.shape == frames.shape else None
    if error is None or error > 20:
        raise RuntimeError(
            f'decord reads {path!r} back as {decoded.shape}, mean error '
            f'{error}; it was written as {frames.shape}.')


def make_demo_videos(out_dir: str = 'data/demo_videos',
                     num_train: int = 960,
                     num_val: int = 240,
                     num_frames: int = 32,
                     size: int = 64,
                     fps: float = 8.0,
                     seed: int = 0) -> Dict[str, str]:
    """Write the demo video set (see the module docstring for the layout).

    Labels cycle through the classes (video ``i`` has label ``i % 12``), so
    both splits are balanced. The first video of each split is decoded with
    decord and compared with what was written (:func:`check_decodes`).

    Args:
        out_dir (str): Folder to write into; created if needed. Existing
            files of the same names are overwritten.
        num_train (int): Training videos. Defaults to 120.
        num_val (int): Validation videos. Defaults to 40.
        num_frames (int): Frames per video. Defaults to 32.
        size (int): Height and width in pixels. Defaults to 64.
        fps (float): Frame rate written into the files. Defaults to 8.
        seed (int): Seed of every random choice. Defaults to 0.

    Returns:
        dict: ``root`` (``out_dir``), ``train_list``, ``val_list`` and
        ``classes_file`` (paths of the written text files).
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(root=out_dir,
                 classes_file=osp.join(out_dir, 'classes.txt'))
    with open(paths['classes_file'], 'w') as f:
        f.write('\n'.join(DEMO_CLASSES) + '\n')
    for split_index, (split, count) in enumerate(
            zip(SPLITS, (num_train, num_val))):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        lines = []
        for i in range(count):
            label = i % len(DEMO_CLASSES)
            rng = np.random.default_rng([seed, split_index, i])
            frames = render_demo_clip(label, num_frames, size, rng)
            relative = f'{split}/video_{i:05d}.mp4'
            write_mp4(osp.join(out_dir, relative), frames, fps)
            if i == 0:
                check_decodes(osp.join(out_dir, relative), frames)
            lines.append(f'{relative} {label}\n')
        paths[f'{split}_list'] = osp.join(out_dir, f'{split}.txt')
        with open(paths[f'{split}_list'], 'w') as f:
            f.writelines(lines)
    return paths
