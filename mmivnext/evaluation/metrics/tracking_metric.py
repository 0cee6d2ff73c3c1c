"""Mean IoU of tracked boxes (paper Table 7, Waymo Open)."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmivnext.models.utils.box_ops import paired_box_iou
from mmivnext.registry import METRICS


@METRICS.register_module()
class BoxTrackingMetric(BaseMetric):
    """Mean IoU between predicted and ground-truth boxes, frames 2 .. T.

    For every window, object ``i`` and frame ``t >= 2`` (index ``t >= 1``)
    where the ground truth is visible, the IoU of ``pred_boxes[i, t]`` and
    ``gt_boxes[i, t]`` is one (object, frame) pair. **All pairs of the
    dataset are pooled** and averaged ("IoU averaged across all objects and
    frames", appendix A.4): an object visible in more frames weighs more, and
    per-object means are not averaged. Frame 1 is left out (its box is the
    model's input); frames where the ground truth is not visible are left out
    (they have no box). IoU is computed on the normalised boxes, which gives
    the same value as on pixel boxes.

    Metrics (with ``prefix``, default ``'tracking'``):

    - ``tracking/mean_iou``: the pooled mean IoU in percent (as Table 7).

    Each data sample (a dict, as MMEngine's evaluator passes them) needs
    ``pred_boxes`` ``[N, T, 4]``, ``gt_boxes`` ``[N, T, 4]`` and
    ``gt_visible`` ``[N, T]``: what
    :class:`~mmivnext.models.BoxTrackingProbe` predicts and
    :class:`~mmivnext.datasets.PackTrackingInputs` packs.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results of the
            ranks are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'tracking'``.
    """

    default_prefix: Optional[str] = 'tracking'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the IoUs of each sample's visible pairs of frames 2 .. T.

        Args:
            data_batch: Unused (the ground truth is in the data samples).
            data_samples (Sequence[dict]): Outputs of the model.
        """
        for sample in data_samples:
            name = (f'window {sample.get("window_index", "?")} (sequence '
                    f'{sample.get("sequence", "?")!r})')
            missing = [k for k in ('pred_boxes', 'gt_boxes', 'gt_visible')
                       if k not in sample]
            if missing:
                raise KeyError(f'BoxTrackingMetric: {name}: the data sample '
                               f'has no {missing}.')
            pred = torch.as_tensor(sample['pred_boxes']).double().cpu()
            gt = torch.as_tensor(sample['gt_boxes']).double().cpu()
            visible = torch.as_tensor(sample['gt_visible']).bool().cpu()
            if pred.shape != gt.shape or gt.dim() != 3 or \
                    gt.shape[-1] != 4 or visible.shape != gt.shape[:2]:
                raise ValueError(
                    f'BoxTrackingMetric: {name}: expected pred_boxes and '
                    f'gt_boxes [N, T, 4] and gt_visible [N, T], got '
                    f'{tuple(pred.shape)}, {tuple(gt.shape)} and '
                    f'{tuple(visible.shape)}.')
            keep = visible[:, 1:]  # [N, T - 1]
            ious = paired_box_iou(pred[:, 1:][keep], gt[:, 1:][keep])  # [M]
            self.results.append(ious.numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> dict:
        """Pool the IoUs of all pairs.

        Raises:
            ValueError: No visible ground-truth box in frames 2 .. T at all.
        """
        ious = np.concatenate(results) if results else np.zeros(0)
        if ious.size == 0:
            raise ValueError('BoxTrackingMetric: no visible ground-truth box '
                             'in frames 2 .. T of any window; nothing to '
                             'evaluate.')
        return dict(mean_iou=float(ious.mean() * 100))
