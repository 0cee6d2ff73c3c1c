import pytest
import torch

from mmivnext.models.losses import CosineSimilarityLoss


def test_values_at_known_angles():
    loss = CosineSimilarityLoss()
    a = torch.tensor([[1.0, 0.0]])
    assert loss(a, a * 5).item() == pytest.approx(0.0)
    assert loss(a, torch.tensor([[0.0, 2.0]])).item() == pytest.approx(2.0)
    assert loss(a, -a).item() == pytest.approx(4.0)


def test_weights_and_loss_weight():
    loss = CosineSimilarityLoss(loss_weight=0.5)
    pred = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    # Only the opposite pair counts: 0.5 * 4.
    weight = torch.tensor([0.0, 1.0])
    assert loss(pred, target, weight).item() == pytest.approx(2.0)


def test_target_gets_no_gradient_and_shapes_must_match():
    pred = torch.randn(3, 4, requires_grad=True)
    target = torch.randn(3, 4, requires_grad=True)
    CosineSimilarityLoss()(pred, target).backward()
    assert pred.grad is not None and target.grad is None
    with pytest.raises(ValueError, match='differ in shape'):
        CosineSimilarityLoss()(torch.randn(2, 4), torch.randn(2, 5))
