"""Windows of frames with per-object boxes, for the object-tracking probe."""
import json
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mmivnext.registry import DATASETS
from .tracking_windows import DEFAULT_FRAME_TMPL


@DATASETS.register_module()
class VideoBoxTrackingDataset(BaseDataset):
    """Box-tracking windows: frames, and each object's box in every frame.

    The task (paper appendix A.4): given the boxes of some objects in a
    window's first frame, predict their boxes in the other frames.

    **On-disk layout.** Frames are images, one folder per sequence; a windows
    file lists the windows::

        <data_root>/
          <data_prefix.frames>/<sequence>/000000.jpg   # frame_tmpl.format(k)
          windows_train.json
          windows_val.json

    The frames are the **cropped** frames (e.g. 256 x 256), in whose pixels
    the boxes are given. The windows file is what
    :func:`mmivnext.datasets.tracking_windows.write_windows` writes
    (``tools/data/build_tracking_windows.py``)::

        {"metadata": {...},                           # optional, not read
         "windows": [
           {"sequence": "<sequence folder>",
            "frames": [0, 2, ..., 30],                # num_frames indices k
            "objects": [                              # >= 1 objects
              {"track_id": "Xk3",                     # optional
               "boxes": [[x1, y1, x2, y2], ...],      # num_frames boxes
               "visible": [true, false, ...]},        # num_frames flags
              ...]},
           ...]}

    Every object must be visible in the first frame; a visible box must have
    ``x1 < x2`` and ``y1 < y2``; boxes where ``visible`` is false are ignored
    (conventionally ``[0, 0, 0, 0]``). Anything else raises a ValueError
    naming the file and the key (e.g. ``windows[4].objects[1].boxes[7]``).
    Whether the boxes fit the images is checked when the frames are loaded
    (:class:`~mmivnext.datasets.transforms.LoadTrackingFrames`).

    Each sample is::

        dict(frame_paths=[<data_root>/<prefix>/<sequence>/<frame>, ...],
             frame_inds=np.int64 [T], sequence=str, window_index=int,
             track_ids=[str, ...],
             gt_boxes=np.float32 [N_obj, T, 4],     # x1 y1 x2 y2, pixels
             gt_visible=np.bool_ [N_obj, T])

    plus ``sample_idx``, for the tracking pipeline
    (:mod:`mmivnext.datasets.transforms.tracking_transforms`).

    Args:
        ann_file (str): The windows file (relative to ``data_root``, or
            absolute).
        pipeline (list[dict | callable]): Transforms of each sample.
        data_root (str): Root of the files. Defaults to ``''``.
        data_prefix (dict): ``dict(frames=<folder>)``, the folder of the
            sequence folders, relative to ``data_root``. Defaults to
            ``dict(frames='frames')``.
        num_frames (int): Frames per window; windows of another length raise
            a ValueError. Defaults to 16.
        max_objects (int, optional): Most objects per window; more raises a
            ValueError (the window rules allow 25). None: no limit.
            Defaults to 25.
        frame_tmpl (str): Name of frame ``k`` in its sequence folder.
            Defaults to ``'{:06d}.jpg'``.
        test_mode (bool): Build for validation / testing. Defaults to False.
        indices (int | Sequence[int], optional): Keep only the first
            ``indices`` windows, or these windows. Defaults to None (all).
        lazy_init (bool): Load the windows file on first use.
            Defaults to False.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_root: str = '',
                 data_prefix: dict = dict(frames='frames'),
                 num_frames: int = 16,
                 max_objects: Optional[int] = 25,
                 frame_tmpl: str = DEFAULT_FRAME_TMPL,
                 test_mode: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 lazy_init: bool = False) -> None:
        if set(data_prefix) != {'frames'}:
            raise ValueError('data_prefix must be dict(frames=<folder>), got '
                             f'{data_prefix!r}')
        if num_frames < 2:
            raise ValueError(f'num_frames must be >= 2, got {num_frames}')
        if max_objects is not None and max_objects < 1:
            raise ValueError(f'max_objects must be >= 1 or None, got '
                             f'{max_objects}')
        self.num_frames = num_frames
        self.max_objects = max_objects
        self.frame_tmpl = frame_tmpl
        super().__init__(
            ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
            pipeline=pipeline, test_mode=test_mode, indices=indices,
            lazy_init=lazy_init)

    def load_data_list(self) -> List[dict]:
        """Read and check the windows file (see the class docstring)."""
        filename = self.ann_file
        if not osp.isfile(filename):
            raise FileNotFoundError(f'windows file {filename!r} does not '
                                    'exist')
        with open(filename) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'{filename}: not valid JSON: {err}') from None
        if not isinstance(data, dict) or not isinstance(data.get('windows'),
                                                        list):
            raise ValueError(f'{filename}: windows: expected a top-level '
                             'object with a list "windows"')
        if not data['windows']:
            raise ValueError(f'{filename}: windows: the list is empty')
        return [self._parse_window(filename, i, window)
                for i, window in enumerate(data['windows'])]

    def _parse_window(self, filename: str, index: int, window) -> dict:
        """One window as a sample dict; raise naming file and key if bad."""
        key = f'windows[{index}]'

        def fail(subkey: str, message: str) -> ValueError:
            return ValueError(f'{filename}: {key}{subkey}: {message}')

        T = self.num_frames
        if not isinstance(window, dict):
            raise fail('', f'expected an object, got {window!r:.80}')
        missing = [k for k in ('sequence', 'frames', 'objects')
                   if k not in window]
        if missing:
            raise fail('', f'missing keys {missing}')
        sequence = window['sequence']
        if not isinstance(sequence, str) or not sequence:
            raise fail('.sequence', f'expected a non-empty string, got '
                       f'{sequence!r}')
        frames = window['frames']
        if not (isinstance(frames, list) and len(frames) == T and all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 0
                for k in frames)):
            raise fail('.frames', f'expected {T} frame indices >= 0 '
                       f'(num_frames={T}), got {frames!r:.120}')
        objects = window['objects']
        if not isinstance(objects, list) or not objects:
            raise fail('.objects', 'expected a non-empty list of objects')
        if self.max_objects is not None and len(objects) > self.max_objects:
            raise fail('.objects', f'{len(objects)} objects, more than '
                       f'max_objects={self.max_objects}')
        boxes = np.zeros((len(objects), T, 4), np.float32)
        visible = np.zeros((len(objects), T), bool)
        track_ids = []
        for o, obj in enumerate(objects):
            okey = f'.objects[{o}]'
            if not isinstance(obj, dict) or 'boxes' not in obj or \
                    'visible' not in obj:
                raise fail(okey, 'expected an object with boxes and visible')
            flags = obj['visible']
            if not (isinstance(flags, list) and len(flags) == T
                    and all(isinstance(v, bool) for v in flags)):
                raise fail(f'{okey}.visible', f'expected {T} true/false '
                           f'flags, got {flags!r:.120}')
            if not flags[0]:
                raise fail(f'{okey}.visible', 'the object must be visible in '
                           'the first frame (its box is the query)')
            obj_boxes = obj['boxes']
            if not isinstance(obj_boxes, list) or len(obj_boxes) != T:
                raise fail(f'{okey}.boxes', f'expected {T} boxes, got '
                           f'{obj_boxes!r:.120}')
            for t, box in enumerate(obj_boxes):
                if not (isinstance(box, list) and len(box) == 4 and all(
                        isinstance(v, (int, float))
                        and not isinstance(v, bool) and np.isfinite(v)
                        for v in box)):
                    raise fail(f'{okey}.boxes[{t}]', f'expected [x1, y1, x2, '
                               f'y2], got {box!r}')
                if flags[t] and not (box[0] < box[2] and box[1] < box[3]):
                    raise fail(f'{okey}.boxes[{t}]', f'a visible box needs '
                               f'x1 < x2 and y1 < y2, got {box!r}')
            boxes[o] = obj_boxes
            visible[o] = flags
            track_ids.append(str(obj.get('track_id', o)))
        folder = osp.join(self.data_prefix['frames'], sequence)
        return dict(
            frame_paths=[osp.join(folder, self.frame_tmpl.format(k))
                         for k in frames],
            frame_inds=np.array(frames, np.int64),
            sequence=sequence,
            window_index=index,
            track_ids=track_ids,
            gt_boxes=boxes,
            gt_visible=visible)
