"""Build 16-frame box-tracking windows from per-frame box annotations.

This is the benchmark construction of the paper's object-tracking probe
(appendix A.4, following Scaling 4D Representations on Waymo Open), as pure
functions; ``tools/data/build_tracking_windows.py`` is its command line and
:class:`~mmivnext.datasets.VideoBoxTrackingDataset` reads what it writes.

Input: per-frame annotations (JSON)
-----------------------------------
One file for a split::

    {"sequences": [
      {"name": "segment-1005..._FRONT",      # folder of the frames, unique
       "fps": 10,                            # frame rate of the list below
       "frame_size": [1920, 1280],           # [width, height] in pixels
       "frames": [                           # every frame, in time order
         [{"track_id": "Xk3", "box": [x1, y1, x2, y2]}, ...],   # frame 0
         [],                                                    # frame 1
         ...]},
      ...]}

Boxes are in the pixels of the original frame (``x1 <= x2``, ``y1 <= y2``);
``track_id`` (a string or an integer) names an object across the frames of a
sequence and appears at most once per frame. Frame ``k`` of a sequence is the
image ``<name>/{k:06d}.jpg`` (``frame_tmpl``) under a frames folder.

Rules (:class:`WindowRules`; the paper's values are the defaults)
----------------------------------------------------------------
1. **Frame rate.** Sequences are downsampled from ``fps`` to ``target_fps``
   (10 -> 5 fps) by keeping every ``fps / target_fps``-th frame from frame 0;
   the ratio must be a whole number. The kept frames keep their original
   indices (frame names).
2. **Boxes.** Each box is mapped to the frame resized so that its short side is
   ``resize_short`` pixels, then centre-cropped to ``crop_size``, and clipped
   to the crop. The paper's text lost both sizes; we chose 256 and 256 x 256
   (a 1920 x 1280 Waymo frame becomes 384 x 256, then its central
   256 x 256), which the probe's pipeline resizes to the encoder's 224.
   A box whose clipped area is under ``min_box_area_ratio`` (0.5%) of the crop
   is dropped: in that frame the object counts as not visible.
3. **Windows.** Windows of ``window_length`` (16) consecutive kept frames slide
   over each sequence one frame at a time; a valid window is taken if it
   starts at least ``min_start_gap`` (3) frames after the last window taken
   (greedy, earliest first).
4. **Objects.** The objects of a window are the ones visible in its first
   frame. A window is valid only if

   a. it has ``min_objects`` to ``max_objects`` (1-25) of them;
   b. each is visible in at least ``min_presence_ratio`` (70%) of its frames;
   c. all of them are visible together in at least ``min_cooccurrence`` (10)
      frames;
   d. none is missing for more than ``max_missing_gap`` (5) consecutive
      frames (a run that reaches the window's end counts too).

   A window breaking a rule is left out whole (objects are not dropped to save
   it). Objects that enter after the first frame are not tracked. At the
   paper's values, (b) implies (d): 70% of 16 frames leaves at most 4 missing
   frames; (d) matters for longer windows or lower ratios.

Output: windows (JSON)
----------------------
::

    {"metadata": {"rules": {...}, "frame_tmpl": "{:06d}.jpg",
                  "source": "<per-frame annotation file>"},
     "windows": [
       {"sequence": "segment-1005..._FRONT",
        "frames": [0, 2, 4, ..., 30],                # original frame indices
        "objects": [
          {"track_id": "Xk3",
           "boxes": [[x1, y1, x2, y2], ...],         # 16 boxes, crop pixels
           "visible": [true, true, false, ...]},     # 16 flags, first true
          ...]},
       ...]}

Boxes are in the pixels of the cropped frame, rounded to 1/100 pixel; the box
of a frame where the object is not visible is ``[0, 0, 0, 0]``.
"""
import json
import math
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

#: Image of frame ``k`` of a sequence, relative to the sequence's folder.
DEFAULT_FRAME_TMPL = '{:06d}.jpg'
#: Reasons a candidate window is left out, in the order they are checked.
REJECT_REASONS = ('num_objects', 'presence', 'cooccurrence', 'missing_gap')


@dataclass(frozen=True)
class WindowRules:
    """The settings of the window construction (module docstring).

    Args:
        window_length (int): Frames per window, after downsampling.
            Defaults to 16.
        target_fps (float): Frame rate of the windows. Defaults to 5.
        resize_short (int): Short side of the resized frame, in pixels.
            Defaults to 256 (our choice: the paper's text lost the size).
        crop_size (int | tuple[int, int]): ``S`` or ``(width, height)`` of the
            centre crop. Defaults to 256.
        min_box_area_ratio (float): Boxes under this fraction of the crop
            area are dropped. Defaults to 0.005.
        min_start_gap (int): Least distance between the starts of two windows
            of a sequence. Defaults to 3.
        min_objects (int): Least objects in a window's first frame.
            Defaults to 1.
        max_objects (int): Most objects in a window's first frame.
            Defaults to 25.
        min_presence_ratio (float): Least fraction of the window's frames each
            first-frame object is visible in. Defaults to 0.7.
        min_cooccurrence (int): Least frames in which all first-frame objects
            are visible together. Defaults to 10.
        max_missing_gap (int): Most consecutive frames a first-frame object
            may be missing. Defaults to 5.
    """

    window_length: int = 16
    target_fps: float = 5.0
    resize_short: int = 256
    crop_size: Union[int, Tuple[int, int]] = 256
    min_box_area_ratio: float = 0.005
    min_start_gap: int = 3
    min_objects: int = 1
    max_objects: int = 25
    min_presence_ratio: float = 0.7
    min_cooccurrence: int = 10
    max_missing_gap: int = 5

    def __post_init__(self) -> None:
        crop = self.crop_size
        if isinstance(crop, int):
            crop = (crop, crop)
        crop = tuple(crop)
        object.__setattr__(self, 'crop_size', crop)
        problems = []
        if self.window_length < 2:
            problems.append(f'window_length={self.window_length} (need >= 2)')
        if not self.target_fps > 0:
            problems.append(f'target_fps={self.target_fps} (need > 0)')
        if self.resize_short < 1:
            problems.append(f'resize_short={self.resize_short} (need >= 1)')
        if len(crop) != 2 or min(crop) < 1:
            problems.append(f'crop_size={self.crop_size} (need S or (W, H) '
                            '>= 1)')
        if not 0 <= self.min_box_area_ratio < 1:
            problems.append(f'min_box_area_ratio={self.min_box_area_ratio} '
                            '(need [0, 1))')
        if self.min_start_gap < 1:
            problems.append(f'min_start_gap={self.min_start_gap} (need >= 1)')
        if not 0 <= self.min_objects <= self.max_objects:
            problems.append(f'min_objects={self.min_objects}, max_objects='
                            f'{self.max_objects} (need 0 <= min <= max)')
        if not 0 <= self.min_presence_ratio <= 1:
            problems.append(f'min_presence_ratio={self.min_presence_ratio} '
                            '(need [0, 1])')
        if not 0 <= self.min_cooccurrence <= self.window_length:
            problems.append(f'min_cooccurrence={self.min_cooccurrence} (need '
                            f'[0, window_length={self.window_length}])')
        if self.max_missing_gap < 0:
            problems.append(f'max_missing_gap={self.max_missing_gap} '
                            '(need >= 0)')
        if problems:
            raise ValueError('Invalid WindowRules: ' + '; '.join(problems))


@dataclass(frozen=True)
class CropGeometry:
    """How a frame of ``(width, height)`` maps to the cropped frame.

    A point ``(x, y)`` of the original frame goes to
    ``(x * scale_x - offset_x, y * scale_y - offset_y)``; the crop covers
    ``[0, crop_w] x [0, crop_h]``.
    """

    scale_x: float
    scale_y: float
    offset_x: int
    offset_y: int
    resized_w: int
    resized_h: int
    crop_w: int
    crop_h: int

    @classmethod
    def create(cls, width: int, height: int, resize_short: int,
               crop_size: Tuple[int, int]) -> 'CropGeometry':
        """Resize the short side to ``resize_short`` (aspect kept, sizes
        rounded), then centre-crop ``crop_size = (W, H)`` (offsets rounded
        down, as mmaction2's ``CenterCrop``).

        Raises:
            ValueError: The crop is larger than the resized frame.
        """
        scale = resize_short / min(width, height)
        resized_w = max(1, round(width * scale))
        resized_h = max(1, round(height * scale))
        crop_w, crop_h = crop_size
        if crop_w > resized_w or crop_h > resized_h:
            raise ValueError(
                f'crop {crop_w}x{crop_h} does not fit a {width}x{height} '
                f'frame resized to {resized_w}x{resized_h} (resize_short='
                f'{resize_short}).')
        return cls(resized_w / width, resized_h / height,
                   (resized_w - crop_w) // 2, (resized_h - crop_h) // 2,
                   resized_w, resized_h, crop_w, crop_h)

    def map_box(self, box: Sequence[float]) -> Tuple[List[float], float]:
        """Map an original-frame box into the crop, clipped to it.

        Returns:
            tuple: The clipped ``[x1, y1, x2, y2]`` in crop pixels and its
            area (0 for a box outside the crop).
        """
        x1 = min(max(box[0] * self.scale_x - self.offset_x, 0.), self.crop_w)
        x2 = min(max(box[2] * self.scale_x - self.offset_x, 0.), self.crop_w)
        y1 = min(max(box[1] * self.scale_y - self.offset_y, 0.), self.crop_h)
        y2 = min(max(box[3] * self.scale_y - self.offset_y, 0.), self.crop_h)
        return [x1, y1, x2, y2], (x2 - x1) * (y2 - y1)

    def crop_image(self, image: np.ndarray) -> np.ndarray:
        """Resize (``cv2.INTER_AREA``) and crop an ``[H, W, C]`` image."""
        import cv2
        resized = cv2.resize(image, (self.resized_w, self.resized_h),
                             interpolation=cv2.INTER_AREA)
        return resized[self.offset_y:self.offset_y + self.crop_h,
                       self.offset_x:self.offset_x + self.crop_w]


# ------------------------------------------------------------------ reading
def _fail(filename: str, key: str, message: str) -> ValueError:
    return ValueError(f'{filename}: {key}: {message}')


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def load_frame_annotations(filename: str) -> List[dict]:
    """Read and check a per-frame annotation file (module docstring).

    Returns:
        list[dict]: One dict per sequence with ``name`` (str), ``fps``
        (float), ``frame_size`` (``(width, height)``) and ``frames`` (a list
        per frame of ``(track_id: str, box: list[float])`` pairs).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not valid JSON or breaks the format; the
            message names the file and the key, e.g.
            ``sequences[2].frames[7][0].box``.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'per-frame annotation file {filename!r} '
                                'does not exist')
    with open(filename) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{filename}: not valid JSON: {err}') from None
    if not isinstance(data, dict) or not isinstance(
            data.get('sequences'), list):
        raise _fail(filename, 'sequences', 'expected a top-level object with '
                    'a list "sequences"')
    sequences, names = [], set()
    for s, seq in enumerate(data['sequences']):
        key = f'sequences[{s}]'
        if not isinstance(seq, dict):
            raise _fail(filename, key, f'expected an object, got {seq!r:.80}')
        missing = [k for k in ('name', 'fps', 'frame_size', 'frames')
                   if k not in seq]
        if missing:
            raise _fail(filename, key, f'missing keys {missing}')
        name = seq['name']
        if not isinstance(name, str) or not name or name in names:
            raise _fail(filename, f'{key}.name', f'expected a unique non-empty '
                        f'string, got {name!r}')
        names.add(name)
        if not _is_number(seq['fps']) or seq['fps'] <= 0:
            raise _fail(filename, f'{key}.fps', f'expected a positive number, '
                        f'got {seq["fps"]!r}')
        size = seq['frame_size']
        if not (isinstance(size, list) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in size)):
            raise _fail(filename, f'{key}.frame_size', f'expected [width, '
                        f'height] in whole pixels, got {size!r}')
        if not isinstance(seq['frames'], list):
            raise _fail(filename, f'{key}.frames', 'expected a list of frames')
        frames = []
        for k, objects in enumerate(seq['frames']):
            fkey = f'{key}.frames[{k}]'
            if not isinstance(objects, list):
                raise _fail(filename, fkey, f'expected a list of objects, got '
                            f'{objects!r:.80}')
            frame, ids = [], set()
            for o, obj in enumerate(objects):
                okey = f'{fkey}[{o}]'
                if not isinstance(obj, dict) or set(obj) != {'track_id',
                                                             'box'}:
                    raise _fail(filename, okey, 'expected an object with the '
                                f'keys track_id and box, got {obj!r:.80}')
                track_id = obj['track_id']
                if isinstance(track_id, bool) or not isinstance(
                        track_id, (str, int)):
                    raise _fail(filename, f'{okey}.track_id', 'expected a '
                                f'string or integer, got {track_id!r}')
                track_id = str(track_id)
                if track_id in ids:
                    raise _fail(filename, f'{okey}.track_id', f'{track_id!r} '
                                'appears twice in this frame')
                ids.add(track_id)
                box = obj['box']
                if not (isinstance(box, list) and len(box) == 4
                        and all(_is_number(v) for v in box)
                        and box[0] <= box[2] and box[1] <= box[3]):
                    raise _fail(filename, f'{okey}.box', 'expected [x1, y1, '
                                f'x2, y2] with x1 <= x2, y1 <= y2, got {box!r}')
                frame.append((track_id, [float(v) for v in box]))
            frames.append(frame)
        sequences.append(dict(name=name, fps=float(seq['fps']),
                              frame_size=tuple(size), frames=frames))
    return sequences


# ----------------------------------------------------------------- building
def frame_stride(fps: float, target_fps: float) -> int:
    """The whole number of original frames per kept frame.

    Raises:
        ValueError: ``fps / target_fps`` is not a whole number >= 1.
    """
    ratio = fps / target_fps
    stride = round(ratio)
    if stride < 1 or abs(ratio - stride) > 1e-6:
        raise ValueError(f'cannot downsample {fps} fps to {target_fps} fps by '
                         f'keeping every n-th frame (ratio {ratio:g}).')
    return stride


def longest_run(flags: Sequence[bool]) -> int:
    """Length of the longest run of True in ``flags``."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def check_window(visible: np.ndarray, rules: WindowRules) -> Optional[str]:
    """Check a window's first-frame objects against rules 4a-4d.

    Args:
        visible (np.ndarray): ``[N_obj, T]`` bool, object ``i`` visible in
            frame ``t`` (so column 0 is all True).
        rules (WindowRules): The thresholds.

    Returns:
        str | None: The first rule broken, one of :data:`REJECT_REASONS`, or
        None for a valid window.
    """
    num_objects, length = visible.shape
    if not rules.min_objects <= num_objects <= rules.max_objects:
        return 'num_objects'
    if num_objects == 0:
        return None
    if (visible.sum(axis=1) < rules.min_presence_ratio * length - 1e-9).any():
        return 'presence'
    if visible.all(axis=0).sum() < rules.min_cooccurrence:
        return 'cooccurrence'
    if max(longest_run(~row) for row in visible) > rules.max_missing_gap:
        return 'missing_gap'
    return None


def build_sequence_windows(sequence: dict, rules: WindowRules,
                           stats: Optional[Dict[str, int]] = None
                           ) -> List[dict]:
    """The windows of one sequence (module docstring, rules 1-4).

    Args:
        sequence (dict): One entry of :func:`load_frame_annotations`.
        rules (WindowRules): The settings.
        stats (dict, optional): Counters updated in place: ``candidates``,
            ``windows`` and one per entry of :data:`REJECT_REASONS`.

    Returns:
        list[dict]: Windows in the output format (``sequence``, ``frames``,
        ``objects`` with ``track_id``, ``boxes``, ``visible``).
    """
    stats = {} if stats is None else stats
    width, height = sequence['frame_size']
    geometry = CropGeometry.create(width, height, rules.resize_short,
                                   rules.crop_size)
    min_area = rules.min_box_area_ratio * geometry.crop_w * geometry.crop_h
    stride = frame_stride(sequence['fps'], rules.target_fps)
    kept = list(range(0, len(sequence['frames']), stride))
    # Per kept frame: {track_id: box in crop pixels} of the boxes kept.
    boxes = []
    for index in kept:
        frame = {}
        for track_id, box in sequence['frames'][index]:
            mapped, area = geometry.map_box(box)
            if area >= min_area and area > 0:
                frame[track_id] = mapped
        boxes.append(frame)

    windows, last_start = [], None
    length = rules.window_length
    for start in range(len(kept) - length + 1):
        if last_start is not None and start - last_start < rules.min_start_gap:
            continue
        stats['candidates'] = stats.get('candidates', 0) + 1
        span = boxes[start:start + length]
        track_ids = list(span[0])  # first-frame objects, annotation order
        visible = np.array([[tid in frame for frame in span]
                            for tid in track_ids], bool).reshape(-1, length)
        reason = check_window(visible, rules)
        if reason is not None:
            stats[reason] = stats.get(reason, 0) + 1
            continue
        stats['windows'] = stats.get('windows', 0) + 1
        last_start = start
        windows.append(dict(
            sequence=sequence['name'],
            frames=kept[start:start + length],
            objects=[dict(
                track_id=tid,
                boxes=[[round(v, 2) for v in frame.get(tid, [0., 0., 0., 0.])]
                       for frame in span],
                visible=[tid in frame for frame in span])
                for tid in track_ids]))
    return windows


def build_windows(sequences: Sequence[dict], rules: WindowRules
                  ) -> Tuple[List[dict], Dict[str, int]]:
    """The windows of all sequences, in order, and the counts behind them.

    Args:
        sequences (Sequence[dict]): :func:`load_frame_annotations` output.
        rules (WindowRules): The settings.

    Returns:
        tuple: The windows, and ``dict(sequences, candidates, windows,
        num_objects, presence, cooccurrence, missing_gap)``: candidate
        windows considered (those far enough from the last window taken),
        windows taken, and candidates left out by each rule.
    """
    stats = dict(sequences=len(sequences), candidates=0, windows=0,
                 **{reason: 0 for reason in REJECT_REASONS})
    windows = []
    for sequence in sequences:
        windows += build_sequence_windows(sequence, rules, stats)
    return windows, stats


def write_windows(filename: str, windows: List[dict], rules: WindowRules,
                  source: str = '',
                  frame_tmpl: str = DEFAULT_FRAME_TMPL) -> None:
    """Write windows in the output format (module docstring)."""
    folder = osp.dirname(filename)
    if folder:
        os.makedirs(folder, exist_ok=True)
    metadata = dict(rules=asdict(rules), frame_tmpl=frame_tmpl, source=source)
    metadata['rules']['crop_size'] = list(rules.crop_size)
    with open(filename, 'w') as f:
        json.dump(dict(metadata=metadata, windows=windows), f)


def write_cropped_frames(sequences: Sequence[dict], windows: Sequence[dict],
                         rules: WindowRules, src_root: str, dst_root: str,
                         frame_tmpl: str = DEFAULT_FRAME_TMPL) -> int:
    """Resize and crop the frames the windows use, as the boxes were mapped.

    Reads ``<src_root>/<sequence>/<frame_tmpl>`` and writes the cropped image
    to the same relative path under ``dst_root``; each frame once.

    Returns:
        int: Number of frames written.

    Raises:
        FileNotFoundError: A source frame cannot be read (names the file).
        ValueError: A source frame's size differs from the sequence's
            ``frame_size``.
    """
    import cv2
    by_name = {seq['name']: seq for seq in sequences}
    needed: Dict[str, set] = {}
    for window in windows:
        needed.setdefault(window['sequence'], set()).update(window['frames'])
    written = 0
    for name, frames in needed.items():
        width, height = by_name[name]['frame_size']
        geometry = CropGeometry.create(width, height, rules.resize_short,
                                       rules.crop_size)
        os.makedirs(osp.join(dst_root, name), exist_ok=True)
        for index in sorted(frames):
            src = osp.join(src_root, name, frame_tmpl.format(index))
            image = cv2.imread(src, cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f'cannot read frame {src!r}')
            if image.shape[:2] != (height, width):
                raise ValueError(
                    f'frame {src!r} is {image.shape[1]}x{image.shape[0]}, '
                    f'but its sequence {name!r} has frame_size '
                    f'[{width}, {height}]')
            dst = osp.join(dst_root, name, frame_tmpl.format(index))
            if not cv2.imwrite(dst, geometry.crop_image(image)):
                raise OSError(f'cannot write frame {dst!r}')
            written += 1
    return written
