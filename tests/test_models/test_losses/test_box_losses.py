"""Box IoU / GIoU and the tracking losses, on hand-computed boxes."""
import pytest
import torch
from torch.testing import assert_close

from mmivnext.models.losses import BoxSmoothL1Loss, GIoULoss
from mmivnext.models.utils.box_ops import (box_cxcywh_to_xyxy,
                                           box_xyxy_to_cxcywh, paired_box_iou,
                                           paired_generalized_box_iou)
from mmivnext.registry import MODELS

# (a, b, IoU, GIoU), worked out by hand:
CASES = [
    # Overlap 1 x 1: union 4 + 4 - 1 = 7, hull 3 x 3 = 9.
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7, 1 / 7 - 2 / 9),
    # Disjoint side by side: union 2, hull 3 x 1 = 3.
    ([0, 0, 1, 1], [2, 0, 3, 1], 0., -1 / 3),
    # b inside a: IoU 4 / 16, the hull is a.
    ([0, 0, 4, 4], [1, 1, 3, 3], 0.25, 0.25),
    ([1, 2, 5, 7], [1, 2, 5, 7], 1., 1.),
    # Touching corners: no overlap, union 2, hull 2 x 2 = 4.
    ([0, 0, 1, 1], [1, 1, 2, 2], 0., -0.5),
]


def boxes(index):
    return torch.tensor([c[index] for c in CASES], dtype=torch.float64)


def test_iou_and_giou_by_hand():
    assert_close(paired_box_iou(boxes(0), boxes(1)), boxes(2))
    assert_close(paired_generalized_box_iou(boxes(0), boxes(1)), boxes(3))
    # Symmetric, and unchanged by scaling x and y (normalised boxes).
    assert_close(paired_box_iou(boxes(1), boxes(0)), boxes(2))
    scale = torch.tensor([0.1, 3., 0.1, 3.], dtype=torch.float64)
    assert_close(paired_box_iou(boxes(0) * scale, boxes(1) * scale),
                 boxes(2))


def test_degenerate_boxes_have_zero_area():
    inverted = torch.tensor([[2., 2., 0., 0.]])
    assert paired_box_iou(inverted, torch.tensor([[0., 0., 2., 2.]])) == 0
    assert paired_box_iou(torch.zeros(1, 4), torch.zeros(1, 4)) == 0
    with pytest.raises(ValueError, match='one shape'):
        paired_box_iou(torch.zeros(2, 4), torch.zeros(3, 4))


def test_box_formats_round_trip():
    xyxy = torch.tensor([[1., 2., 5., 8.]])
    assert_close(box_xyxy_to_cxcywh(xyxy), torch.tensor([[3., 5., 4., 6.]]))
    assert_close(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(xyxy)), xyxy)


def test_giou_loss_is_weighted_mean_of_one_minus_giou():
    loss = GIoULoss()  # the paper's weight 0.5
    expected = 0.5 * (1 - boxes(3)).mean()
    assert_close(loss(boxes(0), boxes(1)), expected)
    assert_close(GIoULoss(loss_weight=1.)(boxes(0)[:1], boxes(1)[:1]),
                 torch.tensor(1 - (1 / 7 - 2 / 9), dtype=torch.float64))


def test_smooth_l1_by_hand():
    pred = torch.tensor([[0.05, 0.3, 0., 0.]])
    target = torch.zeros(1, 4)
    # beta 0.1: 0.5 * 0.05^2 / 0.1 = 0.0125 (quadratic); 0.3 - 0.05 = 0.25
    # (linear); mean over the 4 coordinates.
    expected = torch.tensor((0.0125 + 0.25) / 4)
    assert_close(BoxSmoothL1Loss(beta=0.1)(pred, target), expected)
    assert_close(BoxSmoothL1Loss(beta=0.1, loss_weight=2.)(pred, target),
                 2 * expected)
    assert_close(BoxSmoothL1Loss(beta=0.)(pred, target),
                 torch.tensor(0.35 / 4))  # L1


@pytest.mark.parametrize('loss', [BoxSmoothL1Loss(), GIoULoss()])
def test_no_pairs_gives_zero_with_a_graph(loss):
    pred = torch.zeros(0, 4, requires_grad=True)
    value = loss(pred, torch.zeros(0, 4))
    assert value.item() == 0
    value.backward()
    assert pred.grad.shape == (0, 4)


def test_losses_are_registered_and_check_shapes():
    giou = MODELS.build(dict(type='mmivnext.GIoULoss', loss_weight=0.5))
    l1 = MODELS.build(dict(type='mmivnext.BoxSmoothL1Loss', beta=0.1))
    assert isinstance(giou, GIoULoss) and isinstance(l1, BoxSmoothL1Loss)
    with pytest.raises(ValueError, match=r'\[M, 4\]'):
        l1(torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r'\[M, 4\]'):
        giou(torch.zeros(2, 2, 4), torch.zeros(2, 2, 4))
