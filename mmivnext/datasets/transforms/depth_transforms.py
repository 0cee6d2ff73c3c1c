"""Transforms of the video depth probe: load a window of RGB frames and depth
maps, resize / crop / flip both with the same geometry, pack them.

A pipeline over :class:`~mmivnext.datasets.VideoDepthDataset` windows::

    [dict(type='LoadVideoDepthWindow'),
     dict(type='ResizeVideoDepth', short_side=224),
     dict(type='CropVideoDepth', crop_size=224, mode='random'),
     dict(type='FlipVideoDepth', flip_ratio=0.5),
     dict(type='PackVideoDepthInputs')]

Between the transforms, ``imgs`` is a uint8 array ``[T, H, W, 3]`` (RGB) and
``gt_depth`` a float32 array ``[T, H, W]`` in metres, 0 where there is no
measurement. Depth is always resampled with nearest-neighbour interpolation, so
that invalid pixels stay invalid and no depth value is invented between a near
and a far surface.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from mmivnext.registry import TRANSFORMS

#: cv2 interpolation of the RGB frames by name (depth is always nearest).
RGB_INTERPOLATIONS = {
    'bilinear': cv2.INTER_LINEAR,
    'area': cv2.INTER_AREA,
    'bicubic': cv2.INTER_CUBIC,
}


def _first_path(results: dict) -> str:
    """A file of the window, to name it in errors."""
    paths = results.get('img_paths') or ['<unknown window>']
    return f'{results.get("sequence", "?")!r} (first frame {paths[0]!r})'


def _pair(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """``(h, w)`` of an int or a pair of positive ints."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f'{name} must be a positive int or (h, w), got '
                         f'{size!r}')
    return pair


@TRANSFORMS.register_module()
class LoadVideoDepthWindow(BaseTransform):
    """Read the RGB frames and depth maps of a window.

    RGB frames are read as 8-bit colour and converted to RGB order; depth maps
    must be single-channel uint16 PNGs and are converted to metres
    (``value / depth_scale``; 0 stays 0, meaning invalid). Every depth map must
    have the size of its RGB frame, and every frame the size of the window's
    first frame. Files are read with OpenCV from the local file system.

    Required keys: ``img_paths``, ``depth_paths`` (lists of ``T`` paths),
    ``depth_scale``.

    Added keys: ``imgs`` (uint8 ``[T, H, W, 3]``, RGB), ``gt_depth`` (float32
    ``[T, H, W]``, metres), ``img_shape`` and ``ori_shape`` (``(H, W)``).

    Raises:
        FileNotFoundError: A file does not exist or cannot be decoded.
        ValueError: A depth map is not uint16 with one channel, or sizes
            differ; the message names the file.
    """

    def transform(self, results: dict) -> dict:
        img_paths, depth_paths = results['img_paths'], results['depth_paths']
        if len(img_paths) != len(depth_paths) or not img_paths:
            raise ValueError(
                f'window of {_first_path(results)}: expected as many depth '
                f'maps as frames (at least one), got {len(img_paths)} frames '
                f'and {len(depth_paths)} depth maps')
        scale = float(results['depth_scale'])
        imgs, depths = [], []
        for img_path, depth_path in zip(img_paths, depth_paths):
            img = cv2.imread(img_path, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(
                    f'cannot read the RGB frame {img_path!r}')
            depth = cv2.imread(depth_path, cv2.IMREAD_UNCHANGED)
            if depth is None:
                raise FileNotFoundError(
                    f'cannot read the depth map {depth_path!r}')
            if depth.dtype != np.uint16 or depth.ndim != 2:
                raise ValueError(
                    f'depth map {depth_path!r} must be a single-channel '
                    f'uint16 PNG, got {depth.dtype} of shape {depth.shape}')
            if depth.shape != img.shape[:2]:
                raise ValueError(
                    f'depth map {depth_path!r} is {depth.shape[0]}x'
                    f'{depth.shape[1]} (HxW) but its RGB frame {img_path!r} '
                    f'is {img.shape[0]}x{img.shape[1]}')
            if imgs and img.shape != imgs[0].shape:
                raise ValueError(
                    f'RGB frame {img_path!r} is {img.shape[0]}x'
                    f'{img.shape[1]} (HxW) but the window\'s first frame '
                    f'{img_paths[0]!r} is {imgs[0].shape[0]}x'
                    f'{imgs[0].shape[1]}')
            imgs.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            depths.append(depth)
        results['imgs'] = np.stack(imgs)  # [T, H, W, 3] uint8
        results['gt_depth'] = np.stack(depths).astype(np.float32) / scale
        results['img_shape'] = results['ori_shape'] = imgs[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@TRANSFORMS.register_module()
class ResizeVideoDepth(BaseTransform):
    """Resize the frames and depth maps of a window to one size.

    Give exactly one of ``short_side`` (keep the aspect ratio: the shorter
    side becomes ``short_side``, the longer one is rounded) or ``size``
    (``(h, w)``, aspect ratio not kept). Depth uses nearest-neighbour
    interpolation; its values (metres) are not changed.

    Required keys: ``imgs``, ``gt_depth``, ``img_shape``.

    Modified keys: ``imgs``, ``gt_depth``, ``img_shape``.

    Added keys: ``scale_factor`` (``(w_scale, h_scale)``, new over old size).

    Args:
        short_side (int, optional): Target length of the shorter side.
        size (int | tuple[int, int], optional): Target ``(h, w)``.
        interpolation (str): RGB interpolation: ``'bilinear'``, ``'area'``
            or ``'bicubic'``. Defaults to ``'bilinear'``.
    """

    def __init__(self,
                 short_side: Optional[int] = None,
                 size: Optional[Union[int, Tuple[int, int]]] = None,
                 interpolation: str = 'bilinear') -> None:
        if (short_side is None) == (size is None):
            raise ValueError('give exactly one of short_side and size, got '
                             f'short_side={short_side!r}, size={size!r}')
        if short_side is not None and not (isinstance(short_side, int)
                                           and short_side > 0):
            raise ValueError(f'short_side must be a positive int, got '
                             f'{short_side!r}')
        if interpolation not in RGB_INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(RGB_INTERPOLATIONS)}, got '
                             f'{interpolation!r}')
        self.short_side = short_side
        self.size = None if size is None else _pair(size, 'size')
        self.interpolation = interpolation

    def target_size(self, h: int, w: int) -> Tuple[int, int]:
        """The ``(h, w)`` an ``h x w`` window is resized to."""
        if self.size is not None:
            return self.size
        if h <= w:
            return self.short_side, max(1, round(w * self.short_side / h))
        return max(1, round(h * self.short_side / w)), self.short_side

    def transform(self, results: dict) -> dict:
        h, w = results['img_shape']
        new_h, new_w = self.target_size(h, w)
        rgb_mode = RGB_INTERPOLATIONS[self.interpolation]
        results['imgs'] = np.stack([
            cv2.resize(img, (new_w, new_h), interpolation=rgb_mode)
            for img in results['imgs']])  # [T, h', w', 3]
        results['gt_depth'] = np.stack([
            cv2.resize(d, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
            for d in results['gt_depth']])  # [T, h', w']
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / w, new_h / h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(short_side={self.short_side}, '
                f'size={self.size}, interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class CropVideoDepth(BaseTransform):
    """Crop the same region from every frame and depth map of a window.

    Required keys: ``imgs``, ``gt_depth``, ``img_shape``.

    Modified keys: ``imgs``, ``gt_depth``, ``img_shape``.

    Added keys: ``crop_bbox`` (``(x1, y1, x2, y2)``, pixels of the input).

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)`` of the crop.
        mode (str): ``'center'``, or ``'random'`` (top-left corner drawn
            uniformly, once per window, from ``np.random``). Defaults to
            ``'center'``.

    Raises:
        ValueError: The window is smaller than the crop (resize it first).
    """

    MODES = ('center', 'random')

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]],
                 mode: str = 'center') -> None:
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got '
                             f'{mode!r}')
        self.crop_size = _pair(crop_size, 'crop_size')
        self.mode = mode

    def transform(self, results: dict) -> dict:
        h, w = results['img_shape']
        crop_h, crop_w = self.crop_size
        if crop_h > h or crop_w > w:
            raise ValueError(
                f'cannot crop {crop_h}x{crop_w} from the {h}x{w} (HxW) '
                f'window of {_first_path(results)}; resize it first')
        if self.mode == 'random':
            y1 = int(np.random.randint(0, h - crop_h + 1))
            x1 = int(np.random.randint(0, w - crop_w + 1))
        else:
            y1, x1 = (h - crop_h) // 2, (w - crop_w) // 2
        y2, x2 = y1 + crop_h, x1 + crop_w
        results['imgs'] = np.ascontiguousarray(
            results['imgs'][:, y1:y2, x1:x2])  # [T, crop_h, crop_w, 3]
        results['gt_depth'] = np.ascontiguousarray(
            results['gt_depth'][:, y1:y2, x1:x2])  # [T, crop_h, crop_w]
        results['img_shape'] = (crop_h, crop_w)
        results['crop_bbox'] = (x1, y1, x2, y2)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'mode={self.mode!r})')


@TRANSFORMS.register_module()
class FlipVideoDepth(BaseTransform):
    """Flip all frames and depth maps of a window horizontally, or none.

    Required keys: ``imgs``, ``gt_depth``.

    Modified keys: ``imgs``, ``gt_depth``.

    Added keys: ``flip`` (bool).

    Args:
        flip_ratio (float): Probability of flipping a window, drawn from
            ``np.random``. Defaults to 0.5.
    """

    def __init__(self, flip_ratio: float = 0.5) -> None:
        if not 0 <= flip_ratio <= 1:
            raise ValueError(f'flip_ratio must be in [0, 1], got '
                             f'{flip_ratio}')
        self.flip_ratio = flip_ratio

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.flip_ratio)
        if flip:
            results['imgs'] = np.ascontiguousarray(
                results['imgs'][:, :, ::-1])  # [T, H, W, 3]
            results['gt_depth'] = np.ascontiguousarray(
                results['gt_depth'][:, :, ::-1])  # [T, H, W]
        results['flip'] = flip
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(flip_ratio={self.flip_ratio})'


@TRANSFORMS.register_module()
class PackVideoDepthInputs(BaseTransform):
    """Pack a window into model inputs and a data sample.

    Output::

        dict(inputs=uint8 Tensor [C, T, H, W],        # RGB, channel first
             data_samples=BaseDataElement(
                 gt_depth=float32 Tensor [T, H, W],   # metres, 0 = invalid
                 metainfo={k: results[k] for k in meta_keys if present}))

    :class:`mmaction.ActionDataPreprocessor` (``format_shape='NCTHW'``)
    stacks the inputs of a batch into ``[B, C, T, H, W]`` and normalises them.

    Required keys: ``imgs``, ``gt_depth``.

    Added keys: ``inputs``, ``data_samples``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's
            metainfo when present. Defaults to :attr:`META_KEYS`.
    """

    META_KEYS = ('sequence', 'frame_ids', 'window_start', 'depth_scale',
                 'img_shape', 'ori_shape', 'scale_factor', 'crop_bbox', 'flip',
                 'sample_idx')

    def __init__(self, meta_keys: Sequence[str] = META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> Dict[str, object]:
        imgs, depth = results['imgs'], results['gt_depth']
        if imgs.shape[:3] != depth.shape:
            raise ValueError(
                f'window of {_first_path(results)}: frames {imgs.shape} and '
                f'depth {depth.shape} do not match ([T, H, W, 3] and '
                '[T, H, W])')
        inputs = torch.from_numpy(
            np.ascontiguousarray(imgs.transpose(3, 0, 1, 2)))  # [C, T, H, W]
        sample = BaseDataElement(metainfo={
            k: results[k] for k in self.meta_keys if k in results})
        sample.gt_depth = torch.from_numpy(
            np.ascontiguousarray(depth, dtype=np.float32))  # [T, H, W]
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
