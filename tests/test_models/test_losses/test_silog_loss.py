"""SILogLoss on values worked out by hand."""
import math

import pytest
import torch

from mmivnext.models.losses import SILogLoss

LOG2 = math.log(2.)


def log_t(*values):
    return torch.log(torch.tensor(values, dtype=torch.float64))


def test_hand_computed_values():
    loss = SILogLoss()  # lambda 0.85
    # g = log(2/1), log(2/4) = +log2, -log2: mean(g) = 0, mean(g^2) = log2^2.
    pred, gt = log_t(2., 2.)[None], torch.tensor([[1., 4.]], dtype=torch.float64)
    valid = torch.ones_like(gt, dtype=torch.bool)
    assert loss(pred, gt, valid).item() == pytest.approx(LOG2)
    # A global factor 2: g = log2 everywhere, L = sqrt(1 - 0.85) * log2.
    gt = torch.tensor([[1., 3., 5.]], dtype=torch.float64)
    pred = torch.log(2 * gt)
    valid = torch.ones_like(gt, dtype=torch.bool)
    assert loss(pred, gt, valid).item() == pytest.approx(
        math.sqrt(0.15) * LOG2)
    # lambda = 0 is the RMSE of the logs; lambda = 1 ignores the factor.
    assert SILogLoss(variance_focus=0.)(pred, gt, valid).item() == \
        pytest.approx(LOG2)
    assert SILogLoss(variance_focus=1.)(pred, gt, valid).item() == \
        pytest.approx(1e-4)  # sqrt(eps)
    assert SILogLoss(loss_weight=10.)(pred, gt, valid).item() == \
        pytest.approx(10 * math.sqrt(0.15) * LOG2)


def test_invalid_pixels_and_empty_samples_are_left_out():
    loss = SILogLoss()
    # Sample 0: g = (log2, -log2) on its valid pixels, L0 = log2; the third
    # pixel (gt 0, absurd prediction) is invalid. Sample 1: g = (log2, log2,
    # log2, log2), L1 = sqrt(0.15) log2. Sample 2: no valid pixel, weight 0.
    pred = torch.stack([
        log_t(2., 2., 1e6, 1.),
        log_t(2., 6., 10., 2.),
        log_t(5., 5., 5., 5.),
    ])
    gt = torch.tensor([[1., 4., 0., 7.], [1., 3., 5., 1.], [0., 0., 0., 0.]],
                      dtype=torch.float64)
    valid = gt > 0
    valid[0, 3] = False  # e.g. beyond the depth range
    expected = (LOG2 + math.sqrt(0.15) * LOG2) / 2
    assert loss(pred, gt, valid).item() == pytest.approx(expected)


def test_no_valid_pixel_gives_zero_with_finite_gradients():
    pred = torch.zeros(2, 3, 4, requires_grad=True)
    gt = torch.zeros(2, 3, 4)
    out = SILogLoss()(pred, gt, gt > 0)
    assert out.item() == 0.
    out.backward()
    assert torch.isfinite(pred.grad).all()


def test_gradient_at_a_perfect_prediction_is_finite():
    gt = torch.rand(2, 5) + 0.5
    pred = gt.log().requires_grad_()
    out = SILogLoss()(pred, gt, torch.ones_like(gt, dtype=torch.bool))
    out.backward()
    assert out.item() == pytest.approx(1e-4)
    assert torch.isfinite(pred.grad).all()
    assert out.dtype == torch.float32


def test_bad_inputs():
    loss = SILogLoss()
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match='must have one shape'):
        loss(x, torch.ones(2, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match='bool mask'):
        loss(x, x, x)
    with pytest.raises(ValueError, match='variance_focus'):
        SILogLoss(variance_focus=1.5)
