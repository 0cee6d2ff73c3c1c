"""SigmoidFocalLoss against hand-computed values."""
import math

import pytest
import torch

from mmivnext.models.losses import SigmoidFocalLoss

LN3 = math.log(3.)


def test_hand_computed_value():
    # sigmoid(0) = 0.5, sigmoid(ln 3) = 0.75; the label is class 1.
    logits = torch.tensor([[0., LN3]])
    labels = torch.tensor([1])
    # Class 0, a negative: p_t = 0.5, a_t = 0.75, (1 - p_t)^2 = 0.25.
    negative = 0.75 * 0.25 * math.log(2.)
    # Class 1, the positive: p_t = 0.75, a_t = 0.25, (1 - p_t)^2 = 0.0625.
    positive = 0.25 * 0.0625 * -math.log(0.75)
    loss = SigmoidFocalLoss()(logits, labels)
    assert loss.item() == pytest.approx(negative + positive, rel=1e-6)


def test_gamma_0_without_alpha_is_the_summed_bce():
    logits = torch.tensor([[0., LN3], [-LN3, 0.]])
    labels = torch.tensor([1, 0])
    # Sample 0: -log 0.5 - log 0.75; sample 1: -log 0.25 - log 0.5.
    per_sample = [math.log(2.) - math.log(.75), math.log(4.) + math.log(2.)]
    loss = SigmoidFocalLoss(gamma=0., alpha=None, reduction='none')
    torch.testing.assert_close(loss(logits, labels),
                               torch.tensor(per_sample))
    mean = SigmoidFocalLoss(gamma=0., alpha=None)(logits, labels)
    total = SigmoidFocalLoss(gamma=0., alpha=None, reduction='sum',
                             loss_weight=2.)(logits, labels)
    assert mean.item() == pytest.approx(sum(per_sample) / 2, rel=1e-6)
    assert total.item() == pytest.approx(2 * sum(per_sample), rel=1e-6)
    torch.testing.assert_close(
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.eye(2)[labels], reduction='sum') / 2, mean)


def test_easy_examples_weigh_less_than_with_bce():
    logits = torch.tensor([[4., -4.]])  # confident and right
    labels = torch.tensor([0])
    focal = SigmoidFocalLoss(alpha=None)(logits, labels)
    bce = SigmoidFocalLoss(gamma=0., alpha=None)(logits, labels)
    assert focal < 1e-3 * bce


def test_bad_inputs_are_refused():
    loss = SigmoidFocalLoss()
    with pytest.raises(ValueError, match=r'lie in \[0, 2\).*\[2\]'):
        loss(torch.zeros(1, 2), torch.tensor([2]))
    with pytest.raises(ValueError, match='integer tensor'):
        loss(torch.zeros(2, 2), torch.tensor([0., 1.]))
    with pytest.raises(ValueError, match=r'\[B, K\]'):
        loss(torch.zeros(2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='reduction'):
        SigmoidFocalLoss(reduction='avg')
    with pytest.raises(ValueError, match='alpha'):
        SigmoidFocalLoss(alpha=1.5)
