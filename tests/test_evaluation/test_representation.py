"""The representation statistics on features whose answers are known."""
import math

import pytest
import torch

from mmivnext.evaluation.functional import (effective_rank, feature_std,
                                            fit_linear_probe, knn_top1,
                                            linear_probe_top1, pool_features)


def test_collapse_statistics_of_known_features():
    # Constant features: one direction, no spread.
    constant = torch.randn(1, 16).expand(50, 16)
    assert effective_rank(constant) == pytest.approx(1, abs=1e-12)
    assert feature_std(constant) == pytest.approx(0, abs=1e-12)
    # k orthogonal directions used equally often: k equal singular values,
    # so the entropy is log k exactly (float64).
    basis = torch.eye(16)[:4]
    assert effective_rank(basis.repeat(5, 1)) == pytest.approx(4, rel=1e-12)
    # The coordinates of one-hot rows over 4 of 16 dims: std of a
    # Bernoulli(1/4) on 4 dims (sqrt(3) / 4 each), 0 on the other 12.
    assert feature_std(basis.repeat(5, 1)) == pytest.approx(
        4 * math.sqrt(3) / 4 / 16, rel=1e-12)
    with pytest.raises(ValueError, match='every feature vector is zero'):
        effective_rank(torch.zeros(3, 4))


def test_knn_and_linear_probe_on_separable_and_on_constant_features():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    centres = 10 * torch.eye(8)[:4]
    feats = centres[labels] + torch.randn(40, 8, generator=generator)
    bank, queries = feats[:20], feats[20:]
    assert knn_top1(bank, labels[:20], queries, labels[20:], k=5) == 1.0
    assert linear_probe_top1(bank, labels[:20], queries, labels[20:]) == 1.0
    # No information: one class wins for every query (a quarter right).
    same = torch.ones(40, 8)
    assert linear_probe_top1(same[:20], labels[:20], same[20:],
                             labels[20:]) == 0.25


def test_pool_features_shapes():
    assert pool_features(torch.ones(2, 5, 3)).shape == (2, 3)  # raw tokens
    featmap = torch.arange(2 * 3 * 8, dtype=torch.float).view(2, 3, 2, 2, 2)
    torch.testing.assert_close(pool_features((featmap, featmap)),
                               featmap.mean(dim=(2, 3, 4)))
    with pytest.raises(ValueError, match=r'got shape \(2, 3, 4, 5\)'):
        pool_features(torch.ones(2, 3, 4, 5))


def test_linear_probe_takes_torch_sgd_steps():
    """The written-out update is ``torch.optim.SGD(momentum=0.9)`` on the
    mean cross-entropy: the same weights after a few steps, in float64 (the
    two differ only in the order of a few sums: ~1e-16 relative per step)."""
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(15) % 3
    train = torch.randn(15, 6, generator=generator, dtype=torch.float64)
    weight, bias, mean, std = fit_linear_probe(train, labels, steps=7,
                                               lr=0.5)
    torch.testing.assert_close(mean, train.mean(0))
    x = (train - mean) / std
    linear = torch.nn.Linear(6, 3, dtype=torch.float64)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.SGD(linear.parameters(), lr=0.5, momentum=0.9)
    for _ in range(7):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(x), labels).backward()
        optimizer.step()
    assert weight.abs().max() > 0.1
    torch.testing.assert_close(weight, linear.weight.detach().T, rtol=1e-12,
                               atol=1e-12)
    torch.testing.assert_close(bias, linear.bias.detach(), rtol=1e-12,
                               atol=1e-12)
