import math

import pytest
import torch
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.utils import (get_1d_sincos_pos_embed,
                                   get_3d_sincos_pos_embed,
                                   infer_pos_embed_grid, resize_pos_embed_3d)

C = 64  # t: 16 channels, w: 24, h: 24


def reference_1d(dims, pos):
    """The formula, written out with Python floats."""
    half = dims // 2
    row = [math.sin(pos / 10000**(i / half)) for i in range(half)]
    return row + [math.cos(pos / 10000**(i / half)) for i in range(half)]


def test_1d_matches_formula():
    emb = get_1d_sincos_pos_embed(8, torch.tensor([0., 3., 7.]))
    assert emb.shape == (3, 8) and emb.dtype == torch.float32
    for row, pos in zip(emb, (0, 3, 7)):
        assert_close(row, torch.tensor(reference_1d(8, pos)))


def test_3d_values_at_positions():
    grid = (3, 2, 4)
    emb = get_3d_sincos_pos_embed(C, grid)
    assert emb.shape == (24, C)
    for t, h, w in [(0, 0, 0), (2, 1, 3), (1, 0, 2), (2, 1, 0)]:
        n = (t * grid[1] + h) * grid[2] + w  # w fastest
        expected = reference_1d(16, t) + reference_1d(24, w) + \
            reference_1d(24, h)
        assert_close(emb[n], torch.tensor(expected))


def test_3d_channel_split():
    t, h, w = 3, 4, 5
    emb = get_3d_sincos_pos_embed(C, (t, h, w)).view(t, h, w, C)
    temporal, col, row = emb[..., :16], emb[..., 16:40], emb[..., 40:]
    # Each part depends only on its own axis.
    assert_close(temporal, temporal[:, :1, :1].expand_as(temporal))
    assert_close(col, col[:1, :1, :].expand_as(col))
    assert_close(row, row[:1, :, :1].expand_as(row))
    # ... and does depend on it.
    assert not torch.allclose(temporal[0], temporal[1])
    assert not torch.allclose(col[:, :, 0], col[:, :, 1])
    assert not torch.allclose(row[:, 0], row[:, 1])


def test_3d_extra_tokens_and_bad_width():
    emb = get_3d_sincos_pos_embed(C, (2, 2, 2), num_extra_tokens=3)
    assert emb.shape == (3 + 8, C)
    assert torch.equal(emb[:3], torch.zeros(3, C))
    assert_close(emb[3:], get_3d_sincos_pos_embed(C, (2, 2, 2)))
    with pytest.raises(ValueError, match='divisible by 16'):
        get_3d_sincos_pos_embed(72, (2, 2, 2))


def test_resize_identity_and_shape():
    pos = torch.randn(1, 2 + 4 * 3 * 3, C)
    assert resize_pos_embed_3d(pos, (4, 3, 3), (4, 3, 3), 2) is pos
    out = resize_pos_embed_3d(pos, (4, 3, 3), (8, 5, 6), 2)
    assert out.shape == (1, 2 + 8 * 5 * 6, C)
    assert torch.equal(out[:, :2], pos[:, :2])  # extra tokens kept
    with pytest.raises(ValueError, match='does not hold'):
        resize_pos_embed_3d(pos, (4, 3, 4), (4, 3, 3), 2)


def test_resize_temporal_keeps_spatial_channels():
    """Resizing time only must leave every frame's spatial part as the spatial
    sin-cos of the grid: a wrong reshape order would scramble it."""
    src = get_3d_sincos_pos_embed(C, (2, 3, 4))[None]
    out = resize_pos_embed_3d(src, (2, 3, 4), (5, 3, 4))
    out = out.view(5, 3, 4, C)
    target = get_3d_sincos_pos_embed(C, (5, 3, 4)).view(5, 3, 4, C)
    assert_close(out[..., 16:], target[..., 16:])
    # Temporal channels: constant over space, interpolated between the ends.
    assert_close(out[..., :16], out[:, :1, :1, :16].expand(5, 3, 4, 16))
    assert_close(out[0, 0, 0, :16], src[0, 0, :16])
    assert_close(out[-1, 0, 0, :16], src[0, -1, :16])


def test_resize_spatial_keeps_temporal_channels():
    src = get_3d_sincos_pos_embed(C, (3, 2, 2))[None]
    out = resize_pos_embed_3d(src, (3, 2, 2), (3, 4, 4)).view(3, 4, 4, C)
    target = get_3d_sincos_pos_embed(C, (3, 4, 4)).view(3, 4, 4, C)
    assert_close(out[..., :16], target[..., :16])
    # Spatial channels are the same for every frame.
    assert_close(out[..., 16:], out[:1, ..., 16:].expand(3, 4, 4, 48))


def test_resize_keeps_dtype_and_gradient():
    pos = torch.randn(1, 8, C, dtype=torch.float64, requires_grad=True)
    out = resize_pos_embed_3d(pos, (2, 2, 2), (4, 3, 3))
    assert out.dtype == torch.float64
    out.sum().backward()
    assert pos.grad is not None and pos.grad.abs().sum() > 0


@pytest.mark.parametrize('num_patches,expected', [
    (4 * 16, (4, 4, 4)),  # same grid
    (8 * 16, (8, 4, 4)),  # more frames
    (4 * 9, (4, 3, 3)),  # smaller images
    (4 * 25, (4, 5, 5)),  # larger images
])
def test_infer_grid(num_patches, expected):
    assert infer_pos_embed_grid(num_patches, (4, 4, 4)) == expected


def test_infer_grid_non_square():
    assert infer_pos_embed_grid(3 * 6 * 9, (3, 4, 6)) == (3, 6, 9)


def test_infer_grid_errors():
    with pytest.raises(ValueError, match='fits none'):
        infer_pos_embed_grid(4 * 16 + 1, (4, 4, 4))
    # 256 tokens: 16 frames of 4x4 or 4 frames of 8x8.
    with pytest.raises(ValueError, match='several grids'):
        infer_pos_embed_grid(256, (4, 4, 4))
    # 16 tokens: 1 frame of 4x4 or 4 frames of 2x2.
    with pytest.raises(ValueError, match='several grids'):
        infer_pos_embed_grid(16, (4, 4, 4))
