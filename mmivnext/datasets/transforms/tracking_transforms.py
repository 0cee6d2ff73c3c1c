"""Transforms of the box-tracking probe: load a window, resize it, pack it.

A pipeline for :class:`~mmivnext.datasets.VideoBoxTrackingDataset`::

    [dict(type='mmivnext.LoadTrackingFrames'),
     dict(type='mmivnext.ResizeTrackingClip', scale=224),
     dict(type='mmivnext.PackTrackingInputs')]

Boxes are ``(x1, y1, x2, y2)`` in pixels of the current frames until
:class:`PackTrackingInputs` normalises them by the frame size.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.fileio import get
from mmengine.structures import BaseDataElement

from mmivnext.registry import TRANSFORMS

INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
}


def _window_name(results: dict) -> str:
    """``'window 4 (sequence seg-1)'`` for error messages."""
    return (f'window {results.get("window_index", "?")} (sequence '
            f'{results.get("sequence", "?")!r})')


@TRANSFORMS.register_module()
class LoadTrackingFrames(BaseTransform):
    """Read a window's frames as RGB images and check the boxes fit them.

    Required keys:

    - frame_paths (list[str]): ``T`` image files.
    - gt_boxes (np.ndarray, optional): ``[N_obj, T, 4]`` pixel boxes.
    - gt_visible (np.ndarray, optional): ``[N_obj, T]`` bool.

    Added keys:

    - imgs (list[np.ndarray]): ``T`` uint8 ``[H, W, 3]`` RGB frames.
    - img_shape (tuple[int, int]): ``(H, W)``.
    - ori_shape (tuple[int, int]): ``(H, W)``.

    Args:
        box_tolerance (float): A visible box may exceed the frame by this
            many pixels; more raises a ValueError naming the window (boxes
            made for frames of another size). Defaults to 1.
        backend_args (dict, optional): MMEngine file backend arguments.
            Defaults to None (local files).
    """

    def __init__(self, box_tolerance: float = 1.0,
                 backend_args: Optional[dict] = None) -> None:
        if box_tolerance < 0:
            raise ValueError(f'box_tolerance must be >= 0, got '
                             f'{box_tolerance}')
        self.box_tolerance = box_tolerance
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        imgs = []
        for path in results['frame_paths']:
            try:
                buffer = get(path, backend_args=self.backend_args)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f'frame {path!r} of {_window_name(results)} does not '
                    'exist') from None
            img = cv2.imdecode(np.frombuffer(buffer, np.uint8),
                               cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'cannot decode frame {path!r} of '
                                 f'{_window_name(results)}')
            imgs.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        shapes = sorted({img.shape[:2] for img in imgs})
        if len(shapes) != 1:
            raise ValueError(f'the frames of {_window_name(results)} differ '
                             f'in size: {shapes}')
        height, width = shapes[0]
        if 'gt_boxes' in results:
            self._check_boxes(results, width, height)
        results['imgs'] = imgs
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        return results

    def _check_boxes(self, results: dict, width: int, height: int) -> None:
        boxes, visible = results['gt_boxes'], results['gt_visible']
        tol = self.box_tolerance
        outside = visible & ((boxes[..., 0] < -tol) | (boxes[..., 1] < -tol) |
                             (boxes[..., 2] > width + tol) |
                             (boxes[..., 3] > height + tol))
        if outside.any():
            obj, t = np.argwhere(outside)[0]
            raise ValueError(
                f'{_window_name(results)}: object {obj} has the box '
                f'{boxes[obj, t].tolist()} in frame {t}, outside the '
                f'{width}x{height} frame {results["frame_paths"][t]!r}; were '
                'the boxes made for frames of another size?')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(box_tolerance='
                f'{self.box_tolerance}, backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class ResizeTrackingClip(BaseTransform):
    """Resize every frame to one size and scale the boxes with it.

    The aspect ratio is not kept: a box ``(x1, y1, x2, y2)`` becomes
    ``(x1 * sx, y1 * sy, x2 * sx, y2 * sy)`` with ``sx = W' / W`` and
    ``sy = H' / H``.

    Required keys:

    - imgs (list[np.ndarray]): ``[H, W, C]`` frames.
    - img_shape (tuple[int, int]): ``(H, W)``.
    - gt_boxes (np.ndarray, optional): ``[N_obj, T, 4]`` pixel boxes.

    Modified keys:

    - imgs: ``[H', W', C]`` frames.
    - img_shape: ``(H', W')``.
    - gt_boxes: scaled boxes (float32).

    Added keys:

    - scale_factor (tuple[float, float]): ``(sx, sy)``.

    Args:
        scale (int | tuple[int, int]): ``S`` for ``S x S``, or ``(W', H')``.
        interpolation (str): ``'nearest'``, ``'bilinear'``, ``'bicubic'`` or
            ``'area'``. Defaults to ``'bilinear'``.
    """

    def __init__(self, scale: Union[int, Tuple[int, int]],
                 interpolation: str = 'bilinear') -> None:
        scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        if len(scale) != 2 or min(scale) < 1:
            raise ValueError(f'scale must be S or (W, H) >= 1, got {scale}')
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(INTERPOLATIONS)}, got {interpolation!r}')
        self.scale = scale
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        height, width = results['img_shape']
        new_w, new_h = self.scale
        sx, sy = new_w / width, new_h / height
        if (new_w, new_h) != (width, height):
            flag = INTERPOLATIONS[self.interpolation]
            results['imgs'] = [cv2.resize(img, (new_w, new_h),
                                          interpolation=flag)
                               for img in results['imgs']]
        if 'gt_boxes' in results:
            factors = np.array([sx, sy, sx, sy], np.float32)
            results['gt_boxes'] = (results['gt_boxes'] * factors).astype(
                np.float32)
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (sx, sy)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class PackTrackingInputs(BaseTransform):
    """Pack a window into the model's input and a data sample.

    Required keys:

    - imgs (list[np.ndarray]): ``T`` uint8 ``[H, W, C]`` frames.
    - img_shape (tuple[int, int]): ``(H, W)``.
    - gt_boxes (np.ndarray): ``[N_obj, T, 4]`` pixel boxes.
    - gt_visible (np.ndarray): ``[N_obj, T]`` bool.

    Output (a new dict):

    - inputs (Tensor): ``[C, T, H, W]`` uint8 clip.
    - data_samples (BaseDataElement): data fields ``gt_boxes`` (float32
      ``[N_obj, T, 4]``, ``(x1, y1, x2, y2)`` divided by ``(W, H, W, H)`` and
      clamped to ``[0, 1]``) and ``gt_visible`` (bool ``[N_obj, T]``);
      metainfo: the ``meta_keys`` present in the results.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo when present.
            Defaults to ``('sequence', 'window_index', 'frame_inds',
            'track_ids', 'img_shape', 'ori_shape', 'sample_idx')``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('sequence', 'window_index',
                                             'frame_inds', 'track_ids',
                                             'img_shape', 'ori_shape',
                                             'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        missing = [k for k in ('imgs', 'img_shape', 'gt_boxes', 'gt_visible')
                   if k not in results]
        if missing:
            raise KeyError(f'PackTrackingInputs needs the keys {missing} '
                           f'(missing in {_window_name(results)})')
        clip = np.stack(results['imgs'])  # [T, H, W, C]
        inputs = torch.from_numpy(np.ascontiguousarray(
            clip.transpose(3, 0, 1, 2)))  # [C, T, H, W]
        height, width = results['img_shape']
        scale = np.array([width, height, width, height], np.float32)
        boxes = np.clip(results['gt_boxes'] / scale, 0., 1.)
        sample = BaseDataElement(
            metainfo={k: results[k] for k in self.meta_keys if k in results})
        sample.gt_boxes = torch.from_numpy(boxes.astype(np.float32))
        sample.gt_visible = torch.from_numpy(
            np.asarray(results['gt_visible'], bool))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
