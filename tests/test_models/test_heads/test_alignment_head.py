import pytest
import torch
import torch.nn.functional as F

from mmivnext.models.heads import TokenAlignmentHead


def test_maps_each_layer_with_its_own_mlp():
    head = TokenAlignmentHead(in_dims=16, out_dims=8, num_layers=3)
    head.init_weights()
    x = torch.randn(2, 5, 16)
    outs = head([x, x, x])
    assert [o.shape for o in outs] == [(2, 5, 8)] * 3
    assert not torch.allclose(outs[0], outs[1])  # separate weights


def test_loss_is_mean_of_per_layer_cosine_losses():
    head = TokenAlignmentHead(in_dims=16, out_dims=8, num_layers=2)
    student = [torch.randn(2, 5, 16) for _ in range(2)]
    teacher = [F.normalize(torch.randn(2, 5, 8), dim=-1) for _ in range(2)]
    preds = head(student)
    expected = sum((2 - 2 * F.cosine_similarity(p, t, dim=-1)).mean()
                   for p, t in zip(preds, teacher)) / 2
    torch.testing.assert_close(head.loss(student, teacher), expected)


def test_perfect_alignment_gives_zero_loss():
    head = TokenAlignmentHead(in_dims=8, out_dims=8, num_layers=1)
    student = [torch.randn(2, 3, 8)]
    teacher = [t.detach() * 3.0 for t in head(student)]  # same direction
    assert head.loss(student, teacher).item() == pytest.approx(0, abs=1e-6)


def test_layer_count_is_checked():
    head = TokenAlignmentHead(in_dims=8, out_dims=8, num_layers=2)
    with pytest.raises(ValueError, match='Expected 2 student layers'):
        head([torch.randn(1, 2, 8)])
    with pytest.raises(ValueError, match='Expected 2 teacher layers'):
        head.loss([torch.randn(1, 2, 8)] * 2, [torch.randn(1, 2, 8)])
