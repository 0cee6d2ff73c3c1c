"""A tiny synthetic video depth set, written in the layout that
:class:`~mmivnext.datasets.VideoDepthDataset` reads.

Each sequence is a camera moving forward over a textured ground plane that
rises to a far back wall, with a few boxes at their own depths sliding across
the view:

* **Depth.** The scene's depth is a tilted plane, far at the top of the frame
  and near at the bottom (``far`` at the top row to ``near`` at the bottom
  row), getting nearer by ``speed`` metres per frame; boxes are flat
  rectangles at a constant depth in front of it, moving sideways.
* **Appearance tells depth.** Colours fade into a fog colour with distance
  (a surface keeps ``exp(-depth / FOG)`` of its colour), the ground has
  stripes every ``STRIPE_METRES`` of depth, and the boxes' checker pattern
  gets finer with distance (period ``proportional to 1 / depth``), so a probe
  can learn depth from the frames.
* **Invalid pixels.** A band of sky at the top has no depth (0), like KITTI's
  LiDAR above the horizon, and a random ``invalid_fraction`` of the other
  pixels is 0, like sensor drop-outs.

Everything random comes from ``numpy.random.default_rng([seed, split,
index])``, one generator per sequence: the same seed writes the same files,
and a larger set begins with the sequences of a smaller one. Depth is stored
as ``round(metres * depth_scale)`` in uint16 PNGs, RGB frames as PNG (lossless)
or JPEG.

Layout written by :func:`make_synthetic_depth_sequences`::

    <out_dir>/
      train.txt                          # "train/seq_000" per line
      val.txt                            # "val/seq_000" per line
      train/seq_000/rgb/000000.png ...   # RGB, H x W x 3, uint8
      train/seq_000/depth/000000.png ... # uint16, 0 = invalid
      val/seq_000/...

``tools/data/make_synthetic_depth.py`` is its command line.
"""
import os
import os.path as osp
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

SPLITS = ('train', 'val')
RGB_EXTS = ('.png', '.jpg')
#: Fraction of the frame height taken by the sky band (no depth).
SKY_FRACTION = 0.15
#: Fog distance in metres: a surface at depth ``d`` keeps ``exp(-d / FOG)``
#: of its colour.
FOG = 6.0
FOG_COLOUR = np.array([200., 205., 215.])
SKY_COLOUR = np.array([120., 170., 235.])
#: Spacing of the ground's stripes in metres.
STRIPE_METRES = 0.5
MIN_SIZE = 16


def render_depth_sequence(num_frames: int,
                          size: Tuple[int, int],
                          depth_range: Tuple[float, float],
                          invalid_fraction: float,
                          rng: np.random.Generator,
                          num_boxes: int = 2
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """Render the frames and depth maps of one sequence.

    Args:
        num_frames (int): Frames, at least 1.
        size (tuple[int, int]): ``(H, W)``, each at least ``MIN_SIZE``.
        depth_range (tuple[float, float]): ``(near, far)`` metres that every
            valid depth lies in.
        invalid_fraction (float): Fraction of the pixels below the sky set to
            0 (drop-outs), in ``[0, 1)``.
        rng (np.random.Generator): Source of every random choice.
        num_boxes (int): Boxes in front of the plane. Defaults to 2.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[T, H, W, 3]`` uint8 RGB frames and
        ``[T, H, W]`` float32 depth in metres (0 = invalid).
    """
    h, w = size
    near, far = depth_range
    if num_frames < 1 or min(h, w) < MIN_SIZE:
        raise ValueError(f'need num_frames >= 1 and H, W >= {MIN_SIZE}, got '
                         f'num_frames={num_frames}, size={size}')
    if not 0 < near < far:
        raise ValueError(f'depth_range must be (near, far) with 0 < near < '
                         f'far, got {depth_range}')
    if not 0 <= invalid_fraction < 1:
        raise ValueError(f'invalid_fraction must be in [0, 1), got '
                         f'{invalid_fraction}')
    span = far - near
    # The plane: far at the horizon (top of the ground) to near at the bottom.
    top = near + rng.uniform(0.7, 0.95) * span
    bottom = near + rng.uniform(0.05, 0.25) * span
    speed = rng.uniform(0.0, 0.3) * (bottom - near) / max(num_frames - 1, 1)
    sky_rows = max(1, round(SKY_FRACTION * h))
    rows = np.linspace(0., 1., h - sky_rows)[:, None]  # [H_ground, 1]
    ground_colour = rng.uniform(40, 200, 3)
    stripe_phase = rng.uniform(0, 2 * np.pi)
    boxes = []
    for _ in range(num_boxes):
        bh, bw = rng.uniform(0.2, 0.4) * h, rng.uniform(0.15, 0.3) * w
        boxes.append(dict(
            depth=near + rng.uniform(0.05, 0.5) * span,
            y=rng.uniform(sky_rows, h - bh), x=rng.uniform(0, w - bw),
            h=bh, w=bw, vx=rng.uniform(-1.0, 1.0) * w / max(num_frames, 8),
            colour=rng.uniform(20, 240, 3)))
    xs = np.arange(w)[None, :]  # [1, W]

    frames = np.empty((num_frames, h, w, 3), np.uint8)
    depths = np.zeros((num_frames, h, w), np.float32)
    for t in range(num_frames):
        depth = np.zeros((h, w))
        plane = top + (bottom - top) * rows - speed * t  # [H_ground, 1]
        depth[sky_rows:] = np.broadcast_to(plane, (h - sky_rows, w))
        albedo = np.empty((h, w, 3))
        albedo[sky_rows:] = ground_colour
        # Stripes across the ground every STRIPE_METRES: they move with the
        # camera.
        stripes = np.sin(2 * np.pi * plane / STRIPE_METRES +
                         stripe_phase)  # [H_ground, 1]
        albedo[sky_rows:] *= (0.75 + 0.25 * stripes)[..., None]
        for box in boxes:
            x0 = int(round(box['x'] + box['vx'] * t))
            y0, bh, bw = int(round(box['y'])), int(box['h']), int(box['w'])
            x0, x1 = max(0, x0), min(w, x0 + bw)
            if x1 <= x0:
                continue  # the box has left the view
            region = (slice(y0, y0 + bh), slice(x0, x1))
            depth[region] = np.minimum(depth[region], box['depth'])
            in_box = depth[region] == box['depth']
            period = max(2.0, 12.0 / box['depth'])  # finer when further
            checker = ((xs[:, x0:x1] // period) % 2 == 0)  # [1, bw]
            shade = np.where(checker, 1.0, 0.7)[..., None]  # [1, bw, 1]
            albedo[region] = np.where(in_box[..., None],
                                      box['colour'] * shade, albedo[region])
        keep = np.exp(-depth / FOG)[..., None]  # [H, W, 1]
        colour = albedo * keep + FOG_COLOUR * (1 - keep)
        colour[:sky_rows] = SKY_COLOUR
        colour += rng.normal(0, 2.0, colour.shape)  # sensor noise
        frames[t] = np.clip(colour, 0, 255).astype(np.uint8)
        drop = rng.random((h, w)) < invalid_fraction
        depth[drop] = 0
        depth[:sky_rows] = 0
        depths[t] = np.clip(depth, 0, far)
    return frames, depths


def make_synthetic_depth_sequences(out_dir: str,
                                   num_train: int = 4,
                                   num_val: int = 2,
                                   num_frames: int = 12,
                                   size: Tuple[int, int] = (48, 64),
                                   depth_range: Tuple[float, float] = (0.5,
                                                                       8.0),
                                   depth_scale: float = 1000.,
                                   invalid_fraction: float = 0.05,
                                   rgb_ext: str = '.png',
                                   seed: int = 0) -> Dict[str, object]:
    """Write a synthetic depth set in :class:`VideoDepthDataset`'s layout.

    Args:
        out_dir (str): Folder to write into (created if needed; files of the
            same names are overwritten).
        num_train (int): Training sequences. Defaults to 4.
        num_val (int): Validation sequences. Defaults to 2.
        num_frames (int): Frames per sequence. Defaults to 12.
        size (tuple[int, int]): ``(H, W)`` of the frames. Defaults to
            ``(48, 64)``.
        depth_range (tuple[float, float]): ``(near, far)`` metres of the
            valid depths. Defaults to ``(0.5, 8.0)`` (indoor, ScanNet-like).
        depth_scale (float): Stored value per metre: the dataset's
            ``depth_scale``. Defaults to 1000 (millimetres, as ScanNet).
        invalid_fraction (float): Drop-out pixels set to 0, besides the sky.
            Defaults to 0.05.
        rgb_ext (str): ``'.png'`` or ``'.jpg'``. Defaults to ``'.png'``.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``root`` (``out_dir``), ``train_list`` and ``val_list`` (list
        file paths), ``sequences`` (``{'train': [...], 'val': [...]}``,
        names relative to ``root``), ``depth_scale``.
    """
    if rgb_ext not in RGB_EXTS:
        raise ValueError(f'rgb_ext must be one of {RGB_EXTS}, got {rgb_ext!r}')
    if depth_range[1] * depth_scale > np.iinfo(np.uint16).max or \
            depth_range[0] * depth_scale < 1:
        raise ValueError(
            f'depth_range {depth_range} m x depth_scale {depth_scale} must '
            'give stored values in [1, 65535] (0 means invalid)')
    counts = dict(train=num_train, val=num_val)
    result: Dict[str, object] = dict(root=out_dir, depth_scale=depth_scale)
    sequences: Dict[str, Sequence[str]] = {}
    for split_index, split in enumerate(SPLITS):
        names = []
        for index in range(counts[split]):
            rng = np.random.default_rng([seed, split_index, index])
            frames, depths = render_depth_sequence(
                num_frames, size, depth_range, invalid_fraction, rng)
            name = f'{split}/seq_{index:03d}'
            _write_sequence(osp.join(out_dir, name), frames, depths,
                            depth_scale, rgb_ext)
            names.append(name)
        list_file = osp.join(out_dir, f'{split}.txt')
        with open(list_file, 'w') as f:
            f.writelines(f'{name}\n' for name in names)
        sequences[split] = names
        result[f'{split}_list'] = list_file
    result['sequences'] = sequences
    return result


def _write_sequence(folder: str, frames: np.ndarray, depths: np.ndarray,
                    depth_scale: float, rgb_ext: str) -> None:
    """Write ``rgb/`` and ``depth/`` of one sequence."""
    rgb_dir, depth_dir = osp.join(folder, 'rgb'), osp.join(folder, 'depth')
    os.makedirs(rgb_dir, exist_ok=True)
    os.makedirs(depth_dir, exist_ok=True)
    for t, (frame, depth) in enumerate(zip(frames, depths)):
        stem = f'{t:06d}'
        if not cv2.imwrite(osp.join(rgb_dir, stem + rgb_ext),
                           cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise OSError(f'cannot write {osp.join(rgb_dir, stem + rgb_ext)}')
        stored = np.round(depth * depth_scale).astype(np.uint16)
        if not cv2.imwrite(osp.join(depth_dir, stem + '.png'), stored):
            raise OSError(f'cannot write {osp.join(depth_dir, stem + ".png")}')
