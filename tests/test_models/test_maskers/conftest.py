"""Shared check of the maskers' output."""
import pytest
import torch

from mmivnext.models.maskers import MaskIndices


def _check_mask(mask: MaskIndices, batch: int, num_tokens: int,
                num_visible: int) -> None:
    """Shapes, int64, ascending rows, and visible + masked = 0 .. N - 1."""
    assert isinstance(mask, MaskIndices)
    assert mask.visible.shape == (batch, num_visible)
    assert mask.masked.shape == (batch, num_tokens - num_visible)
    assert mask.visible.dtype == mask.masked.dtype == torch.int64
    for indices in mask:
        assert (indices.diff(dim=1) > 0).all()
    union = torch.cat(list(mask), dim=1).sort(dim=1).values
    assert torch.equal(union, torch.arange(num_tokens).expand(batch, -1))


@pytest.fixture
def check_mask():
    """``check_mask(mask, B, N, K)``: shapes ``[B, K]`` / ``[B, N - K]``,
    int64, ascending rows, visible and masked together 0 .. N - 1 once."""
    return _check_mask
