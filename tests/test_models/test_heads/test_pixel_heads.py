"""LinearPixelHead and MLPPixelHead (decoder ablation heads)."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.heads import LinearPixelHead, MLPPixelHead
from mmivnext.registry import MODELS

D, C = 12, 8


@pytest.mark.parametrize('cls,cfg', [(LinearPixelHead, {}),
                                     (MLPPixelHead, dict(hidden_dims=16))])
def test_loss_and_predict(cls, cfg):
    torch.manual_seed(0)
    head = cls(target_dims=D, cond_dims=C, **cfg)
    z, target = torch.randn(5, C), torch.randn(5, D)
    loss = head.loss(z, target)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0
    pred = head(z)
    assert pred.shape == (5, D)
    assert_close(loss, ((pred - target)**2).mean())
    w = torch.tensor([0., 0., 1., 0., 0.])
    assert_close(head.loss(z, target, w),
                 ((pred[2] - target[2])**2).mean())
    out = head.predict(z)
    assert out.shape == (5, D) and out.dtype == torch.float32
    assert not out.requires_grad
    assert_close(out, pred.detach())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert head.predict(z).dtype == torch.float32
        assert head.loss(z, target).dtype == torch.float32
    with pytest.raises(ValueError, match='regresses its pixels'):
        head.predict(z, num_steps=10)
    with pytest.raises(ValueError, match='cond_dims'):
        head.loss(torch.zeros(5, C + 1), target)
    with pytest.raises(ValueError, match='target_dims'):
        head.loss(z, torch.zeros(5, D + 1))


def test_architectures_and_defaults():
    linear = LinearPixelHead()
    assert isinstance(linear.net, nn.Linear)
    assert linear.net.weight.shape == (588, 1024)
    mlp = MLPPixelHead(target_dims=D, cond_dims=C, hidden_dims=16)
    layers = [m for m in mlp.net if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in layers] == [(16, C), (16, 16),
                                                       (D, 16)]
    assert sum(isinstance(m, nn.GELU) for m in mlp.net) == 2


def test_registry_init_and_loss_weight():
    head = MODELS.build(dict(type='MLPPixelHead', target_dims=D, cond_dims=C,
                             hidden_dims=16,
                             loss=dict(type='PixelMSELoss', loss_weight=0.)))
    first = head.net[0]  # built with xavier-uniform weights, zero biases
    assert float(first.bias.detach().abs().max()) == 0
    bound = (6 / (C + 16))**0.5
    assert float(first.weight.detach().abs().max()) <= bound
    assert float(first.weight.detach().std()) > 0.2 * bound
    loss = head.loss(torch.randn(3, C), torch.randn(3, D))
    assert loss.item() == 0


def test_overfit_quickly():
    torch.manual_seed(0)
    head = LinearPixelHead(target_dims=D, cond_dims=C)
    z, target = torch.randn(4, C), torch.randn(4, D)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(100):
        loss = head.loss(z, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    assert_close(head.predict(z), target, atol=0.05, rtol=0)
