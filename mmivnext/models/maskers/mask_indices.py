"""Masks as index tensors: the type every masker returns, and the one place that
turns a choice of visible tokens into it."""
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from ..utils import check_values


class MaskIndices(NamedTuple):
    """Visible and masked token positions of a batch (V-JEPA 2 style).

    Positions index the student's flattened token grid ``(T, H, W)``,
    ``t * H * W + h * W + w`` (the token order of ``VisionTransformer3D``).

    Attributes:
        visible (Tensor): ``[B, K]`` int64 positions of the visible tokens,
            ascending in each row.
        masked (Tensor): ``[B, M]`` int64 positions of the masked tokens,
            ascending in each row. Each row of ``visible`` and ``masked``
            together holds every position ``0 .. N - 1`` once
            (``K + M = N = T * H * W``).
    """
    visible: Tensor
    masked: Tensor


def check_mask_ratio(mask_ratio: float) -> float:
    """Return ``mask_ratio`` as a float, raising unless ``0 < mask_ratio < 1``."""
    if isinstance(mask_ratio, bool) or not isinstance(mask_ratio,
                                                      (int, float)):
        raise TypeError(f'mask_ratio must be a number, got {mask_ratio!r}')
    if not 0 < mask_ratio < 1:
        raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
    return float(mask_ratio)


def num_visible_tokens(num_tokens: int, mask_ratio: float) -> int:
    """``num_tokens - int(num_tokens * mask_ratio)``, the authors' count
    (``engines/engine_for_stage1.py:86``): 52 of 256 tokens at 0.8, 64 at
    0.75. It must leave at least one visible and one masked token.

    Args:
        num_tokens (int): Tokens to choose from (a frame's or a clip's).
        mask_ratio (float): Fraction of them to mask.

    Returns:
        int: Number of visible tokens.
    """
    num_visible = num_tokens - int(num_tokens * mask_ratio)
    if not 0 < num_visible < num_tokens:
        raise ValueError(
            f'mask_ratio {mask_ratio} of {num_tokens} tokens leaves '
            f'{num_visible} visible; at least one visible and one masked '
            f'token are needed')
    return num_visible


def indices_from_visible(visible: Tensor,
                         num_visible: Optional[int] = None) -> MaskIndices:
    """Turn a boolean visibility mask into sorted index tensors.

    Args:
        visible (Tensor): ``[B, N]`` bool, True where a token is visible; every
            row must have the same number ``K`` of visible tokens, so that the
            indices stack.
        num_visible (int, optional): ``K``, when the caller knows it. Then the
            row counts are checked with :func:`check_values` (no host-device
            synchronisation on accelerators); without it ``K`` is read from
            the mask, which waits for the device.

    Returns:
        MaskIndices: ``visible [B, K]`` and ``masked [B, N - K]``.
    """
    if visible.ndim != 2 or visible.dtype != torch.bool:
        raise ValueError('expected a bool mask [B, N], got '
                         f'{visible.dtype} {list(visible.shape)}')
    counts = visible.sum(1)
    if num_visible is None:
        if (counts != counts[0]).any():
            raise ValueError('every sample must have the same number of '
                             f'visible tokens, got {counts.tolist()}')
        num_visible = int(counts[0])
    else:
        check_values(counts == num_visible, 'every sample must have the same '
                     f'number of visible tokens, {num_visible}')
    # A stable sort of 0 (visible) / 1 (masked) keys lists the visible
    # positions first, both groups in ascending order.
    order = torch.argsort((~visible).to(torch.uint8), dim=1, stable=True)
    return MaskIndices(visible=order[:, :num_visible],
                       masked=order[:, num_visible:])


def indices_from_frame_choice(choice: Tensor,
                              grid_size: Sequence[int]) -> MaskIndices:
    """Turn per-frame choices of visible tokens into flat sorted indices.

    Args:
        choice (Tensor): ``[B, T, K_f]`` int64 positions ``h * W + w`` of the
            visible tokens of each frame, distinct within a frame.
        grid_size (Sequence[int]): ``(T, H, W)`` of the token grid.

    Returns:
        MaskIndices: ``visible [B, T * K_f]`` and ``masked [B, T * (H * W -
        K_f)]`` over the flattened grid.
    """
    frames, height, width = grid_size
    if choice.ndim != 3 or choice.shape[1] != frames:
        raise ValueError(f'expected choices [B, {frames}, K_f], got '
                         f'{list(choice.shape)}')
    visible = torch.zeros(
        choice.shape[0], frames, height * width, dtype=torch.bool,
        device=choice.device)
    visible.scatter_(-1, choice, True)  # [B, T, H * W]
    # Choices within a frame are distinct: K = T * K_f visible tokens.
    return indices_from_visible(visible.flatten(1),
                                choice.shape[1] * choice.shape[2])
