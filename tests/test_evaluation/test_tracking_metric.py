"""BoxTrackingMetric: pooled mean IoU of frames 2..T, by hand."""
import pytest
import torch
from mmengine.evaluator import Evaluator

from mmivnext.evaluation.metrics import BoxTrackingMetric
from mmivnext.testing.tiny_tracking import data_sample

A = [0., 0., 0.2, 0.2]
SHIFTED = [0.1, 0., 0.3, 0.2]  # overlap 0.1 x 0.2: IoU 0.02 / 0.06 = 1/3
FAR = [0.5, 0.5, 0.7, 0.7]  # IoU 0 with A
OVERLAP = [0.1, 0.1, 0.3, 0.3]  # IoU 1/7 with A
GARBAGE = [0.9, 0.9, 1.0, 1.0]


def samples():
    """Two windows of 3 frames; pairs of frames 2..3 with visible ground
    truth have the IoUs 1, 1/3, 0 (window 1) and 1/7, 1 (window 2)."""
    one = data_sample([[A, A, A], [A, A, A]],
                      [[True, True, True], [True, True, False]],
                      window_index=0, sequence='s0')
    one.pred_boxes = torch.tensor([[GARBAGE, A, SHIFTED],  # frame 1 ignored
                                   [A, FAR, GARBAGE]])  # not visible: ignored
    two = data_sample([[A, A, A]], [[True, True, True]], window_index=1,
                      sequence='s1')
    two.pred_boxes = torch.tensor([[A, OVERLAP, A]])
    return [one, two]


def evaluate(data_samples):
    evaluator = Evaluator(BoxTrackingMetric())
    evaluator.process(data_samples)  # BaseDataElement -> dict, as in a run
    return evaluator.evaluate(len(data_samples))


def test_mean_iou_pools_all_pairs():
    metrics = evaluate(samples())
    pooled = (1 + 1 / 3 + 0 + 1 / 7 + 1) / 5
    assert metrics == {'tracking/mean_iou': pytest.approx(100 * pooled)}
    # Not the mean of per-object means ((2/3 + 0 + 4/7) / 3).
    assert metrics['tracking/mean_iou'] != pytest.approx(
        100 * (2 / 3 + 0 + 4 / 7) / 3)


def test_perfect_and_disjoint_predictions():
    sample = data_sample([[A, A]], [[True, True]])
    sample.pred_boxes = torch.tensor([[A, A]])
    assert evaluate([sample]) == {'tracking/mean_iou': 100.}
    sample.pred_boxes = torch.tensor([[A, FAR]])
    assert evaluate([sample]) == {'tracking/mean_iou': 0.}


def test_errors_name_the_window():
    sample = data_sample([[A, A]], [[True, True]], window_index=4,
                         sequence='s4')
    with pytest.raises(KeyError, match=r"window 4 \(sequence 's4'\).*"
                       r"pred_boxes"):
        evaluate([sample])
    sample.pred_boxes = torch.tensor([[A, A, A]])
    with pytest.raises(ValueError, match=r"window 4 .* \(1, 3, 4\), "
                       r'\(1, 2, 4\)'):
        evaluate([sample])
    sample = data_sample([[A, A]], [[True, False]])
    sample.pred_boxes = torch.tensor([[A, A]])
    with pytest.raises(ValueError, match='no visible ground-truth box'):
        evaluate([sample])
