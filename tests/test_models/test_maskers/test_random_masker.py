"""RandomMasker: uniform visible tokens, per frame or over the clip."""
import pytest
import torch

from mmivnext.models.maskers import RandomMasker
from mmivnext.registry import MODELS


def frame_counts(visible, frames=4, tokens=9):
    """``[B, T]`` visible tokens per frame."""
    return torch.stack([(visible // tokens == t).sum(1)
                        for t in range(frames)], dim=1)


def test_per_frame_exact_count(check_mask):
    mask, = RandomMasker(mask_ratio=2 / 3)(5, (4, 3, 3))
    check_mask(mask, 5, 36, 12)  # 9 - int(9 * 2 / 3) = 3 per frame
    assert (frame_counts(mask.visible) == 3).all()


def test_clip_level_count_varies_per_frame(check_mask):
    mask, = RandomMasker(mask_ratio=2 / 3, per_frame=False)(
        50, (4, 3, 3), generator=torch.Generator().manual_seed(0))
    check_mask(mask, 50, 36, 12)
    assert (frame_counts(mask.visible) != 3).any()


@pytest.mark.parametrize('per_frame', [True, False])
def test_uniform(per_frame):
    mask, = RandomMasker(mask_ratio=0.75, per_frame=per_frame)(
        4000, (2, 2, 2), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(mask.visible.flatten(), minlength=8) / 4000
    torch.testing.assert_close(freq, torch.full((8, ), 0.25), atol=0.03,
                               rtol=0)


def test_reproducible_with_generator():
    masker = RandomMasker(mask_ratio=0.5)

    def draw(seed):
        return masker(4, (2, 4, 4),
                      generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(draw(3).visible, draw(3).visible)
    assert not torch.equal(draw(3).visible, draw(4).visible)


@pytest.mark.parametrize('batch,grid,match', [
    (0, (2, 2, 2), 'batch_size'),
    (2, (2, 2), 'grid_size'),
    (2, (2, 0, 2), 'grid_size'),
])
def test_bad_call(batch, grid, match):
    with pytest.raises(ValueError, match=match):
        RandomMasker(mask_ratio=0.5)(batch, grid)


def test_refuses_attention():
    masker = RandomMasker(mask_ratio=0.5)
    assert not masker.needs_attention
    with pytest.raises(ValueError, match='does not use attention'):
        masker(2, (2, 2, 2), attention=torch.ones(2, 2, 4))


def test_bad_ratio():
    with pytest.raises(ValueError, match=r'in \(0, 1\)'):
        RandomMasker(mask_ratio=0)
    with pytest.raises(ValueError, match='leaves 4 visible'):
        RandomMasker(mask_ratio=0.05)(2, (2, 2, 2))


def test_build_from_registry():
    masker = MODELS.build(dict(type='RandomMasker', mask_ratio=0.9,
                               per_frame=False))
    assert isinstance(masker, RandomMasker) and not masker.per_frame
