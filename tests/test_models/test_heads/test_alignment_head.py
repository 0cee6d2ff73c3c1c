import pytest
import torch
import torch.nn.functional as F

from mmivnext.models.heads import TokenAlignmentHead
from mmivnext.models.utils import get_3d_sincos_pos_embed

GRID = (2, 2, 2)


def authors_alignment(head, student, visible):
    """The authors' token alignment written out in plain torch (their
    ``clip_pos_embed`` + ``MLP_Decoder``, ``models/InternVideo_next_s1.py``):
    the shared position rows of the visible tokens are added to every layer,
    then Linear - GELU - Linear - LayerNorm and L2 normalisation."""
    pos = head.pos_embed[0][visible]  # [B, K, C]
    outs = []
    for mlp, x in zip(head.projs, student):
        h = F.linear(x + pos, mlp.fc1.weight, mlp.fc1.bias)
        h = F.linear(F.gelu(h), mlp.fc2.weight, mlp.fc2.bias)
        h = F.layer_norm(h, h.shape[-1:], mlp.norm.weight, mlp.norm.bias,
                         eps=1e-5)
        outs.append(h / h.norm(dim=-1, keepdim=True))
    return outs


def make(num_layers=2, in_dims=16, out_dims=8):
    head = TokenAlignmentHead(in_dims=in_dims, out_dims=out_dims,
                              grid_size=GRID, num_layers=num_layers)
    head.init_weights()
    with torch.no_grad():  # a trained-looking position embedding
        head.pos_embed.normal_()
    return head.double()


def visible_indices(batch=2, k=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(8, generator=gen)[:k]
                        for _ in range(batch)])


def test_layout_is_the_authors():
    head = TokenAlignmentHead(in_dims=16, out_dims=8, grid_size=GRID,
                              num_layers=3)
    # One shared sin-cos position table of the grid (no cls rows), C wide.
    torch.testing.assert_close(head.pos_embed.data[0],
                               get_3d_sincos_pos_embed(16, GRID))
    assert head.pos_embed.requires_grad
    mlp = head.projs[0]
    assert (mlp.fc1.in_features, mlp.fc1.out_features) == (16, 16)
    assert (mlp.fc2.in_features, mlp.fc2.out_features) == (16, 8)
    assert mlp.norm.normalized_shape == (8, ) and mlp.norm.eps == 1e-5


def test_equals_the_authors_arithmetic():
    head = make()
    student = [torch.randn(2, 3, 16, dtype=torch.float64) for _ in range(2)]
    visible = visible_indices()
    teacher = [F.normalize(torch.randn(2, 3, 8, dtype=torch.float64), dim=-1)
               for _ in range(2)]
    expected_out = authors_alignment(head, student, visible)
    for out, exp in zip(head(student, visible), expected_out):
        torch.testing.assert_close(F.normalize(out, dim=-1), exp)
    # Their loss: mean over layers, tokens and clips of 2 - 2 <o, t>.
    expected = torch.stack([(2 - 2 * (o * t).sum(-1)).mean()
                            for o, t in zip(expected_out, teacher)]).mean()
    torch.testing.assert_close(head.loss(student, teacher, visible),
                               expected.float())


def test_position_embedding_follows_the_visible_indices():
    head = make(num_layers=1)
    student = [torch.zeros(1, 2, 16, dtype=torch.float64)]
    a = head(student, torch.tensor([[0, 1]]))[0]
    b = head(student, torch.tensor([[1, 0]]))[0]
    torch.testing.assert_close(a.flip(1), b)
    assert not torch.allclose(a[:, 0], a[:, 1])


def test_other_grid_resizes_the_position_embedding():
    head = make(num_layers=1)
    student = [torch.randn(1, 4, 16, dtype=torch.float64)]
    out = head(student, torch.tensor([[0, 5, 9, 15]]), grid_size=(4, 2, 2))
    assert out[0].shape == (1, 4, 8)


def test_perfect_alignment_gives_zero_loss():
    head = make(num_layers=1, in_dims=16, out_dims=8)
    student = [torch.randn(2, 3, 16, dtype=torch.float64)]
    visible = visible_indices()
    teacher = [t.detach() * 3.0 for t in head(student, visible)]
    assert head.loss(student, teacher, visible).item() == pytest.approx(
        0, abs=1e-6)


def test_layer_count_and_indices_are_checked():
    head = make()
    visible = visible_indices(batch=1, k=2)
    with pytest.raises(ValueError, match='Expected 2 student layers'):
        head([torch.randn(1, 2, 16, dtype=torch.float64)], visible)
    with pytest.raises(ValueError, match='Expected 2 teacher layers'):
        head.loss([torch.randn(1, 2, 16, dtype=torch.float64)] * 2,
                  [torch.randn(1, 2, 8)], visible)
    with pytest.raises(ValueError, match='visible_indices must be'):
        head([torch.randn(1, 2, 16, dtype=torch.float64)] * 2,
             visible[:, :1])
