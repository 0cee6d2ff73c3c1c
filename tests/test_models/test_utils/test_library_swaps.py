"""Building blocks that are library code (timm, torchvision), each against an
independent formula written here, and with the parameter names that released
checkpoints use.

Were a library to change what one of them computes, or the names of its
parameters, these tests fail.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.losses import SigmoidFocalLoss
from mmivnext.models.utils import MLP, LayerScale, TransformerEncoderLayer
from mmivnext.models.utils.box_ops import (box_cxcywh_to_xyxy,
                                           box_xyxy_to_cxcywh)

F64 = torch.float64


def test_layer_scale_is_x_times_gamma():
    ls = LayerScale(6, 1e-5).to(F64)
    assert list(ls.state_dict()) == ['gamma']
    assert_close(ls.gamma, torch.full((6, ), 1e-5).to(F64), rtol=0, atol=0)
    with torch.no_grad():
        ls.gamma.copy_(torch.randn(6, dtype=F64))
    x = torch.randn(2, 3, 6, dtype=F64)
    assert_close(ls(x), x * ls.gamma.detach(), rtol=0, atol=0)
    ls.reset_parameters()  # timm 1.0.21 refilled ones here
    assert_close(ls.gamma, torch.full((6, ), 1e-5, dtype=F64), rtol=0, atol=0)


@pytest.mark.parametrize('bias', [True, False])
def test_mlp_is_fc2_gelu_fc1(bias):
    torch.manual_seed(0)
    mlp = MLP(6, 10, drop=0.25, bias=bias).to(F64)
    keys = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'] if bias else \
        ['fc1.weight', 'fc2.weight']
    assert list(mlp.state_dict()) == keys
    w1, w2 = mlp.fc1.weight, mlp.fc2.weight
    b1, b2 = mlp.fc1.bias, mlp.fc2.bias
    assert w1.shape == (10, 6) and w2.shape == (6, 10)
    x = torch.randn(2, 3, 6, dtype=F64)

    def reference(p):  # exact GELU; dropout after it and after fc2
        h = F.dropout(F.gelu(F.linear(x, w1, b1)), p)
        return F.dropout(F.linear(h, w2, b2), p)

    mlp.eval()
    assert_close(mlp(x), reference(0.))
    mlp.train()  # the same dropout draws, in the same order
    torch.manual_seed(1)
    out = mlp(x)
    torch.manual_seed(1)
    assert_close(out, reference(0.25))


def test_transformer_layer_keeps_its_parameter_names():
    layer = TransformerEncoderLayer(8, 2, 16, layer_scale_init_value=1e-5)
    names = [k for k in layer.state_dict() if k.startswith(('ls', 'mlp'))]
    assert names == ['mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight',
                     'mlp.fc2.bias', 'ls1.gamma', 'ls2.gamma']


def test_box_conversions_by_formula():
    boxes = torch.randn(3, 5, 4, dtype=F64) * 10  # any leading dims
    a, b, c, d = boxes.unbind(-1)
    assert_close(box_cxcywh_to_xyxy(boxes),
                 torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], -1),
                 rtol=0, atol=0)
    assert_close(box_xyxy_to_cxcywh(boxes),
                 torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], -1),
                 rtol=0, atol=0)
    assert_close(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(boxes)), boxes)


@pytest.mark.parametrize('gamma, alpha', [(2., .25), (1.5, .6), (0., None),
                                          (2., None), (0., 1.)])
def test_focal_loss_by_formula(gamma, alpha):
    torch.manual_seed(0)
    logits = torch.randn(5, 7, dtype=F64) * 3
    labels = torch.randint(0, 7, (5, ))
    # From the definition, in float64 (the loss computes in float32).
    t = F.one_hot(labels, 7).to(F64)
    p = 1 / (1 + torch.exp(-logits))
    p_t = torch.where(t == 1, p, 1 - p)
    a_t = torch.ones_like(t) if alpha is None else \
        torch.where(t == 1, alpha, 1 - alpha)
    per_class = -a_t * (1 - p_t)**gamma * torch.log(p_t)
    expected = per_class.sum(1).float()
    loss = SigmoidFocalLoss(gamma=gamma, alpha=alpha, reduction='none',
                            loss_weight=3.)
    assert_close(loss(logits, labels), 3 * expected)
    assert_close(SigmoidFocalLoss(gamma=gamma, alpha=alpha)(logits, labels),
                 expected.mean())
    assert math.isfinite(SigmoidFocalLoss(gamma=gamma, alpha=alpha)(
        torch.tensor([[60., -60.]]), torch.tensor([1])).item())
