"""AbsRel and delta1 of predicted depth videos (paper Table 6, appendix A.3)."""
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from mmivnext.registry import METRICS


def frame_depth_errors(pred: np.ndarray, gt: np.ndarray, min_depth: float,
                       max_depth: float) -> Optional[tuple]:
    """AbsRel and delta1 of one frame.

    Args:
        pred (np.ndarray): Predicted depth ``[H, W]`` in metres.
        gt (np.ndarray): Ground truth ``[H, W]`` in metres (0 = invalid).
        min_depth (float): Pixels with ``min_depth < gt < max_depth`` count.
        max_depth (float): See ``min_depth``.

    Returns:
        tuple[float, float] | None: ``(abs_rel, delta1)`` over the valid
        pixels, the prediction clamped to ``[min_depth, max_depth]``; None if
        the frame has no valid pixel.
    """
    valid = (gt > min_depth) & (gt < max_depth)
    if not valid.any():
        return None
    d = np.clip(pred[valid].astype(np.float64), min_depth, max_depth)
    d_star = gt[valid].astype(np.float64)
    abs_rel = float(np.mean(np.abs(d - d_star) / d_star))
    delta1 = float(np.mean(np.maximum(d / d_star, d_star / d) < 1.25))
    return abs_rel, delta1


@METRICS.register_module()
class DepthMetric(BaseMetric):
    """Absolute relative error and delta1 accuracy of depth predictions.

    For each frame of each predicted window, over its valid pixels ``i`` (the
    ground truth ``d*_i`` in ``(min_depth, max_depth)``, open interval) and the
    prediction ``d_i`` clamped to ``[min_depth, max_depth]``::

        AbsRel = mean_i |d_i - d*_i| / d*_i
        delta1 = mean_i [ max(d_i / d*_i, d*_i / d_i) < 1.25 ]

    **Averaging.** Per image, as the usual monocular-depth evaluations (Eigen
    et al., BTS, Monodepth): each frame's value is computed over its own
    valid pixels, then the frames are averaged with equal weight (not the
    pixels of the whole set). Frames of overlapping windows are counted once
    per window. Frames without any valid pixel have no value; they are left
    out of the mean, counted, and the count is logged (WARNING) and returned
    as ``frames_without_gt``. If no frame has a valid pixel the evaluation
    raises a ValueError.

    No scale or shift alignment is applied: the probe predicts metric depth.
    Both values are fractions (the paper's table gives them x 100: AbsRel
    ``13.7`` is ``0.137`` here). The depth ranges of the paper's text are
    missing; the standard ones are KITTI ``(1e-3, 80)`` m and ScanNet
    ``(1e-3, 10)`` m. Evaluation is at the resolution of the model's input
    (after the pipeline's resize and crop of the ground truth with nearest
    interpolation); KITTI's Garg / Eigen crops are not applied.

    Each data sample (``model.predict`` output, as a data element or the dict
    MMEngine's evaluator makes of it) needs ``pred_depth`` and ``gt_depth``,
    ``[T, H, W]`` tensors or arrays of one shape.

    Args:
        min_depth (float): Lower bound of valid ground truth and of the
            clamped prediction, metres. Defaults to 1e-3.
        max_depth (float): Upper bound, metres. Defaults to 80 (KITTI; 10 for
            ScanNet).
        collect_device (str): ``'cpu'`` or ``'gpu'``, where the results of the
            ranks are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'depth'``.

    Returns of :meth:`compute_metrics`: ``abs_rel``, ``delta1`` (floats),
    ``num_frames`` (frames averaged) and ``frames_without_gt``.
    """

    default_prefix = 'depth'

    def __init__(self,
                 min_depth: float = 1e-3,
                 max_depth: float = 80.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 <= min_depth < max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got '
                             f'min_depth={min_depth}, max_depth={max_depth}')
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    @staticmethod
    def _array(value: Any, key: str, where: str) -> np.ndarray:
        if torch.is_tensor(value):
            return value.detach().float().cpu().numpy()
        if isinstance(value, np.ndarray):
            return value
        raise TypeError(f'{where}: {key} must be a tensor or an array, got '
                        f'{type(value).__name__}')

    def process(self, data_batch: Any,
                data_samples: Sequence[Mapping]) -> None:
        """Compute the per-frame values of a batch of predictions."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            where = (f'window {sample.get("window_start")} of sequence '
                     f'{sample.get("sequence")!r}')
            for key in ('pred_depth', 'gt_depth'):
                if key not in sample:
                    raise KeyError(f'{where}: the data sample has no {key!r} '
                                   '(DepthMetric needs the model\'s predict '
                                   'output)')
            pred = self._array(sample['pred_depth'], 'pred_depth', where)
            gt = self._array(sample['gt_depth'], 'gt_depth', where)
            if pred.shape != gt.shape or pred.ndim != 3:
                raise ValueError(f'{where}: pred_depth {pred.shape} and '
                                 f'gt_depth {gt.shape} must both be [T, H, W]')
            abs_rel, delta1, empty = [], [], 0
            for frame_pred, frame_gt in zip(pred, gt):
                errors = frame_depth_errors(frame_pred, frame_gt,
                                            self.min_depth, self.max_depth)
                if errors is None:
                    empty += 1
                    continue
                abs_rel.append(errors[0])
                delta1.append(errors[1])
            self.results.append(dict(
                abs_rel=np.asarray(abs_rel, np.float64),
                delta1=np.asarray(delta1, np.float64),
                frames_without_gt=empty))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Average the frames of all windows (class docstring)."""
        abs_rel = np.concatenate([r['abs_rel'] for r in results])
        delta1 = np.concatenate([r['delta1'] for r in results])
        empty = int(sum(r['frames_without_gt'] for r in results))
        if abs_rel.size == 0:
            raise ValueError(
                f'DepthMetric: none of the {empty} evaluated frames has ground '
                f'truth in ({self.min_depth}, {self.max_depth}) m; check the '
                'depth_scale of the dataset and the metric range')
        if empty:
            print_log(
                f'DepthMetric: {empty} of {empty + abs_rel.size} frames have '
                f'no ground truth in ({self.min_depth}, {self.max_depth}) m '
                'and are left out of the averages', logger='current',
                level=logging.WARNING)
        return dict(abs_rel=float(abs_rel.mean()),
                    delta1=float(delta1.mean()),
                    num_frames=int(abs_rel.size),
                    frames_without_gt=empty)
