"""DepthMetric on tiny predictions worked out by hand."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from mmivnext.evaluation import DepthMetric


def sample(pred, gt, **meta):
    """A predicted window ``[T, H, W]`` as the model returns it."""
    element = BaseDataElement(metainfo=dict(sequence='s', window_start=0,
                                            **meta))
    element.pred_depth = torch.tensor(pred, dtype=torch.float32)
    element.gt_depth = torch.tensor(gt, dtype=torch.float32)
    return element


def evaluate(metric, samples):
    evaluator = Evaluator(metric)
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


def test_one_frame_by_hand():
    # Valid pixels: gt 2, 4, 5 (gt 0 is invalid, gt 12 is beyond max 10).
    # |d - d*| / d*: |3-2|/2 = 0.5, |4-4|/4 = 0, |4-5|/5 = 0.2 -> mean 0.7/3.
    # max ratios: 1.5, 1, 1.25 -> only 1 < 1.25 -> delta1 = 1/3
    # (1.25 itself is not < 1.25).
    pred = [[[3., 4.], [4., 7.], [9., 1.]]]
    gt = [[[2., 4.], [5., 0.], [12., 0.]]]
    out = evaluate(DepthMetric(min_depth=1e-3, max_depth=10.),
                   [sample(pred, gt)])
    assert out['depth/abs_rel'] == pytest.approx(0.7 / 3)
    assert out['depth/delta1'] == pytest.approx(1 / 3)
    assert out['depth/num_frames'] == 1
    assert out['depth/frames_without_gt'] == 0


def test_prediction_is_clamped_to_the_range():
    # d = 20 is clamped to max 10: |10 - 8| / 8 = 0.25, ratio 1.25 -> not in
    # delta1. d = 0 is clamped to min 1: |1 - 2| / 2 = 0.5, ratio 2.
    pred = [[[20., 0.]]]
    gt = [[[8., 2.]]]
    out = evaluate(DepthMetric(min_depth=1., max_depth=10.),
                   [sample(pred, gt)])
    assert out['depth/abs_rel'] == pytest.approx((0.25 + 0.5) / 2)
    assert out['depth/delta1'] == 0.


def test_frames_are_averaged_not_pixels():
    # Frame 0: one valid pixel, abs_rel 1 (d 2, d* 1), delta1 0.
    # Frame 1: three valid pixels, all exact: abs_rel 0, delta1 1.
    # Per frame: abs_rel (1 + 0) / 2 = 0.5 and delta1 0.5; over all pixels it
    # would be 1/4 and 3/4. Frame 2 has no valid pixel: left out, counted.
    pred = [[[2., 9.], [9., 9.]],
            [[1., 2.], [3., 9.]],
            [[5., 5.], [5., 5.]]]
    gt = [[[1., 0.], [0., 0.]],
          [[1., 2.], [3., 0.]],
          [[0., 0.], [0., 0.]]]
    out = evaluate(DepthMetric(max_depth=80.), [sample(pred, gt)])
    assert out['depth/abs_rel'] == pytest.approx(0.5)
    assert out['depth/delta1'] == pytest.approx(0.5)
    assert out['depth/num_frames'] == 2
    assert out['depth/frames_without_gt'] == 1


def test_windows_of_a_batch_and_of_several_batches_average_alike():
    rng = np.random.default_rng(0)
    gts = rng.uniform(0.5, 9., (3, 2, 4, 4))
    preds = gts * rng.uniform(0.7, 1.4, gts.shape)
    samples = [sample(p.tolist(), g.tolist()) for p, g in zip(preds, gts)]
    metric = DepthMetric(max_depth=10.)
    metric.process(None, [s.to_dict() for s in samples[:2]])
    metric.process(None, samples[2:])  # data elements are accepted too
    out = metric.compute_metrics(metric.results)
    clamped = np.clip(preds, 1e-3, 10.)  # some predictions exceed 10 m
    frames = [(np.abs(p - g) / g).mean() for p, g in
              zip(clamped.reshape(6, 4, 4), gts.reshape(6, 4, 4))]
    assert out['abs_rel'] == pytest.approx(np.mean(frames))
    assert out['num_frames'] == 6


def test_errors():
    with pytest.raises(ValueError, match='none of the 1 evaluated frames'):
        evaluate(DepthMetric(), [sample([[[1.]]], [[[0.]]])])
    with pytest.raises(ValueError, match="window 0 of sequence 's'.*must both"):
        evaluate(DepthMetric(), [sample([[[1., 2.]]], [[[1.]]])])
    element = BaseDataElement(metainfo=dict(sequence='s', window_start=4))
    element.gt_depth = torch.ones(1, 1, 1)
    with pytest.raises(KeyError, match="window 4 .* no 'pred_depth'"):
        DepthMetric().process(None, [element])
    with pytest.raises(ValueError, match='min_depth < max_depth'):
        DepthMetric(min_depth=10., max_depth=1.)
