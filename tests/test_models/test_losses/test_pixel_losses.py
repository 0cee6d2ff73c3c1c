"""DiffusionLoss and PixelMSELoss: reductions, weights, batch multiplier."""
import pytest
import torch
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.losses import DiffusionLoss, PixelMSELoss
from mmivnext.models.losses.token_loss_utils import weighted_token_mean
from mmivnext.registry import MODELS


def test_weighted_token_mean():
    losses = torch.tensor([1., 2., 4.])
    assert float(weighted_token_mean(losses, None)) == pytest.approx(7 / 3)
    assert float(weighted_token_mean(losses, torch.tensor([1., 0., 1.]))) \
        == pytest.approx(2.5)
    assert float(weighted_token_mean(losses, torch.zeros(3))) == 0
    empty = torch.zeros(0, requires_grad=True)
    out = weighted_token_mean(empty, None)
    out.backward()
    assert out.item() == 0


def test_pixel_mse_loss():
    torch.manual_seed(0)
    pred, target = torch.randn(5, 6), torch.randn(5, 6)
    loss = PixelMSELoss(loss_weight=2.)
    assert_close(loss(pred, target), 2 * ((pred - target)**2).mean())
    w = torch.tensor([1., 0., 0., 3., 0.])
    per_token = ((pred - target)**2).mean(-1)
    assert_close(loss(pred, target, w),
                 2 * (per_token[0] + 3 * per_token[3]) / 4)
    assert loss(pred.bfloat16(), target.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match='differs'):
        loss(pred[:, :5], target)
    with pytest.raises(ValueError, match='weights'):
        loss(pred, target, torch.ones(4))
    with pytest.raises(ValueError, match='tokens'):
        loss(pred[:4], target)


class SpyDenoiser:
    """Records its inputs; returns zeros [N, 2D] (or a preset output)."""

    def __init__(self):
        self.calls = []

    def __call__(self, x_t, t, z):
        self.calls.append((x_t, t, z))
        return torch.zeros(x_t.shape[0], 2 * x_t.shape[1])


def test_diffusion_loss_batch_mul_repeats():
    torch.manual_seed(0)
    z, target = torch.randn(3, 5), torch.randn(3, 4)
    spy = SpyDenoiser()
    loss = DiffusionLoss(diffusion_batch_mul=4)(spy, z, target)
    (x_t, t, z_rep), = spy.calls
    assert x_t.shape == (12, 4) and t.shape == (12, ) and z_rep.shape == (
        12, 5)
    assert torch.equal(z_rep, z.repeat(4, 1))  # copy k of token m: k * M + m
    assert t.dtype == torch.int64 and int(t.min()) >= 0 and int(t.max()) < 1000
    assert len(set(t.tolist())) > 1  # each copy has its own step
    assert loss.shape == () and torch.isfinite(loss)
    spy1 = SpyDenoiser()
    DiffusionLoss(diffusion_batch_mul=1)(spy1, z, target)
    assert spy1.calls[0][0].shape == (3, 4)
    with pytest.raises(ValueError, match='diffusion_batch_mul'):
        DiffusionLoss(diffusion_batch_mul=0)


def test_diffusion_loss_weights_and_scale():
    torch.manual_seed(0)
    z = torch.tensor([[0.], [30.]])
    target = torch.randn(2, 4)

    def denoiser(x_t, t, z):  # eps = z (broadcast), v = 0
        return torch.cat([z.expand_as(x_t), torch.zeros_like(x_t)], -1)

    loss = DiffusionLoss(diffusion_batch_mul=8)
    # Token 1's noise estimate is 30 off; weight 0 hides it.
    assert float(loss(denoiser, z, target)) > 300
    masked = loss(denoiser, z, target, torch.tensor([1., 0.]))
    assert float(masked) < 10
    torch.manual_seed(1)
    ref = loss(denoiser, z, target)
    torch.manual_seed(1)
    half = DiffusionLoss(diffusion_batch_mul=8, loss_weight=0.5)(
        denoiser, z, target)
    assert_close(half, 0.5 * ref)


def test_diffusion_loss_empty_and_registry():
    loss = MODELS.build(dict(type='DiffusionLoss', num_timesteps=50,
                             noise_schedule='linear', diffusion_batch_mul=2))
    assert loss.diffusion.num_timesteps == 50
    assert_close(loss.diffusion.betas[-1].item(), 0.4)
    out = loss(SpyDenoiser(), torch.zeros(0, 5), torch.zeros(0, 4))
    assert float(out) == 0
    with pytest.raises(ValueError, match='weights'):
        loss(SpyDenoiser(), torch.zeros(2, 5), torch.zeros(2, 4),
             torch.ones(3))
    assert isinstance(MODELS.build(dict(type='PixelMSELoss')), PixelMSELoss)
