"""LatentPredictionHead: the authors' Stage-2 head (``selfdist_decoder``) and,
with an un-normalised target, their Stage-1 global alignment
(``final_clip_decoder``)."""
import pytest
import torch
import torch.nn.functional as F

from mmivnext.models.heads import LatentPredictionHead


def authors_mlp_decoder(head, x):
    """``MLP_Decoder`` of ``models/InternVideo_next_s1.py`` in plain torch:
    Linear(C, C) - GELU - Linear(C, C_t) - LayerNorm(eps 1e-5) - L2."""
    fc1, _, fc2, norm = head.net
    h = F.linear(F.gelu(F.linear(x, fc1.weight, fc1.bias)), fc2.weight,
                 fc2.bias)
    h = F.layer_norm(h, h.shape[-1:], norm.weight, norm.bias, eps=1e-5)
    return h / h.norm(dim=-1, keepdim=True)


def make(in_dims, out_dims, **kwargs):
    head = LatentPredictionHead(in_dims=in_dims, out_dims=out_dims, **kwargs)
    head.init_weights()
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        head.net[3].weight.uniform_(0.5, 1.5)
        head.net[3].bias.normal_(0, 0.1)
    return head.double()


def test_layout():
    head = LatentPredictionHead(in_dims=1024, out_dims=768)
    fc1, _, fc2, norm = head.net
    assert (fc1.in_features, fc1.out_features) == (1024, 1024)
    assert (fc2.in_features, fc2.out_features) == (1024, 768)
    assert norm.normalized_shape == (768, ) and norm.eps == 1e-5


def test_global_alignment_equals_the_authors_arithmetic():
    """Projector output (768) -> MLP -> LayerNorm -> L2, against the mean over
    frames of the teacher's unit vectors, not re-normalised:
    ``2 - 2 <o, t>`` (``engines/engine_for_stage1.py``)."""
    head = make(16, 8, loss=dict(type='CosineSimilarityLoss',
                                 normalize_target=False))
    pooled = torch.randn(3, 16, dtype=torch.float64)
    frames = F.normalize(torch.randn(3, 4, 8, dtype=torch.float64), dim=-1)
    target = frames.mean(dim=1)  # [B, C_t], norm < 1
    out = authors_mlp_decoder(head, pooled)
    expected = (2 - 2 * (out * target).sum(-1)).mean()
    torch.testing.assert_close(head.loss(pooled, target), expected.float())
    # Re-normalising the target (the former default) gives another value.
    renorm = make(16, 8)
    renorm.load_state_dict(head.state_dict())
    assert renorm.loss(pooled, target).item() != pytest.approx(
        expected.item(), rel=1e-3)


def test_stage2_head_equals_the_authors_arithmetic():
    """``selfdist_decoder`` + L2 against L2-normalised teacher tokens
    (``models/InternVideo_next_s2.py``, ``engines/engine_for_stage2.py``)."""
    head = make(12, 8)
    z = torch.randn(2, 5, 12, dtype=torch.float64)
    teacher = torch.randn(2, 5, 8, dtype=torch.float64)
    out = authors_mlp_decoder(head, z)
    target = teacher / teacher.norm(dim=-1, keepdim=True)
    expected = (2 - 2 * (out * target).sum(-1)).mean()
    torch.testing.assert_close(head.loss(z, teacher), expected.float())
