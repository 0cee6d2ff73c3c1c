"""MaskIndices and the helpers every masker shares."""
import pytest
import torch

from mmivnext.models.maskers import (check_mask_ratio,
                                     indices_from_frame_choice,
                                     indices_from_visible, num_visible_tokens)


def test_indices_from_visible(check_mask):
    visible = torch.tensor([[True, False, False, True, False],
                            [False, False, True, True, False]])
    mask = indices_from_visible(visible)
    assert mask.visible.tolist() == [[0, 3], [2, 3]]
    assert mask.masked.tolist() == [[1, 2, 4], [0, 1, 4]]
    check_mask(mask, 2, 5, 2)


def test_indices_from_visible_needs_equal_counts():
    with pytest.raises(ValueError, match='same number of visible'):
        indices_from_visible(torch.tensor([[True, False], [True, True]]))
    with pytest.raises(ValueError, match='bool mask'):
        indices_from_visible(torch.ones(2, 3, dtype=torch.long))


def test_indices_from_frame_choice_flattens_t_h_w(check_mask):
    """Token (t, h, w) of a (T, H, W) = (2, 2, 3) grid is t * 6 + h * 3 + w."""
    choice = torch.tensor([[[5, 0], [1, 3]]])  # frame 0: 5, 0; frame 1: 1, 3
    mask = indices_from_frame_choice(choice, (2, 2, 3))
    assert mask.visible.tolist() == [[0, 5, 7, 9]]
    check_mask(mask, 1, 12, 4)
    with pytest.raises(ValueError, match='expected choices'):
        indices_from_frame_choice(choice, (3, 2, 3))


def test_num_visible_tokens_is_the_authors_count():
    """``N - int(N * ratio)`` (engine_for_stage1.py:86), not ``round(N * (1 -
    ratio))``: 52 of 256 at 0.8 (round gives 51)."""
    assert num_visible_tokens(256, 0.8) == 52
    assert num_visible_tokens(256, 0.75) == 64
    assert num_visible_tokens(10, 0.9) == 1
    assert num_visible_tokens(4, 0.9) == 1  # int(3.6) = 3 masked
    with pytest.raises(ValueError, match='leaves 4 visible'):
        num_visible_tokens(4, 0.1)  # int(0.4) = 0 masked


@pytest.mark.parametrize('ratio', [0, 1, 1.5, -0.2])
def test_check_mask_ratio_range(ratio):
    with pytest.raises(ValueError, match=r'in \(0, 1\)'):
        check_mask_ratio(ratio)


@pytest.mark.parametrize('ratio', ['0.8', None, True])
def test_check_mask_ratio_type(ratio):
    with pytest.raises(TypeError, match='must be a number'):
        check_mask_ratio(ratio)
