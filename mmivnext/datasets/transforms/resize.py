"""mmaction2's ``Resize`` with a choice of mmcv's resize backend."""
from typing import List, Optional, Tuple, Union

import mmcv
import numpy as np
from mmaction.datasets.transforms import Resize as MMActionResize
from mmcv.image.geometric import pillow_interp_codes

from mmivnext.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Resize(MMActionResize):
    """``mmaction.Resize`` that resizes the frames with a given mmcv backend.

    The authors resize each multi-scale crop to 224 x 224 with PIL's
    ``Image.BILINEAR`` (InternVideo-Next ``datasets/transforms.py:124,133``),
    which is antialiased when shrinking; ``mmaction.Resize`` uses mmcv's global
    backend, cv2 by default, whose ``INTER_LINEAR`` is not (about 1.9/255 mean
    and 16/255 max apart on smooth frames shrunk from 320 to 224 px). With
    ``backend='pillow'`` the frames are PIL's exactly. Keys are those of
    ``mmaction.Resize``; keypoints and boxes are scaled as it does.

    Args:
        scale (float | Tuple[int, int]): As ``mmaction.Resize``.
        keep_ratio (bool): As ``mmaction.Resize``. Defaults to True.
        interpolation (str): As ``mmaction.Resize``; with ``'pillow'`` one of
            mmcv's ``pillow_interp_codes``. Defaults to ``'bilinear'``.
        lazy (bool): As ``mmaction.Resize``; only with ``backend=None``, since
            mmaction2's ``Fuse`` resizes lazy clips with the global backend.
            Defaults to False.
        backend (str, optional): ``'cv2'`` or ``'pillow'``, passed to
            ``mmcv.imresize``. None uses mmcv's global backend, as
            ``mmaction.Resize``. Defaults to None.
    """

    def __init__(self,
                 scale: Union[float, Tuple[int, int]],
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear',
                 lazy: bool = False,
                 backend: Optional[str] = None) -> None:
        super().__init__(scale, keep_ratio=keep_ratio,
                         interpolation=interpolation, lazy=lazy)
        if backend not in (None, 'cv2', 'pillow'):
            raise ValueError(f"backend must be 'cv2', 'pillow' or None, got "
                             f'{backend!r}.')
        if backend is not None and lazy:
            raise ValueError(f'backend={backend!r} needs lazy=False: '
                             'mmaction2 resizes lazy clips in Fuse with the '
                             'global backend.')
        if backend == 'pillow' and interpolation not in pillow_interp_codes:
            raise ValueError(f'interpolation {interpolation!r} is not one of '
                             f"the 'pillow' backend's "
                             f'{sorted(pillow_interp_codes)}.')
        self.backend = backend

    def _resize_imgs(self, imgs: List[np.ndarray], new_w: int,
                     new_h: int) -> List[np.ndarray]:
        """Resize each ``[H, W, C]`` frame to ``[new_h, new_w, C]``."""
        return [
            mmcv.imresize(img, (new_w, new_h),
                          interpolation=self.interpolation,
                          backend=self.backend) for img in imgs
        ]

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, backend={self.backend!r})'
