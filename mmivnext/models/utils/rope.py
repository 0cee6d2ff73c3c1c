"""3D rotary position embedding (RoPE) of queries and keys, as in V-JEPA 2.

V-JEPA 2's RoPE ViTs (GitHub ``facebookresearch/vjepa2``,
``src/models/utils/modules.py``, ``RoPEAttention`` and
``rotate_queries_or_keys``) have no absolute position embedding; each
attention layer rotates the queries and keys of every head by the token's
``(t, h, w)`` grid position. This module reproduces that arithmetic exactly,
including its frequency layout (which V-JEPA 2 keeps for compatibility with
its released weights):

* A head of width ``d`` is split into three chunks of ``s = 2 ((d // 3) // 2)``
  channels, for ``t``, ``h`` and ``w`` in this order; the last ``d - 3s``
  channels are not rotated (e.g. ``d = 64``: ``s = 20``, 4 channels left).
* Within a chunk, ``omega_j = 10000 ** (-j / (s / 2))`` for
  ``j < s / 2``, and channel ``c`` gets the angle
  ``theta_c = pos * omega_(c mod s/2)`` (the ``s / 2`` frequencies repeated
  twice, not interleaved).
* Channels are paired ``(2i, 2i + 1)``:
  ``y_2i = x_2i cos(theta_2i) - x_(2i+1) sin(theta_2i)`` and
  ``y_(2i+1) = x_(2i+1) cos(theta_(2i+1)) + x_2i sin(theta_(2i+1))``.
  Since ``theta_2i != theta_(2i+1)`` this is not an exact rotation; it is what
  the released models were trained with.
* Positions are integer grid indices (frame index after tubelets, patch row,
  patch column) of each token, also for a subset of visible tokens; the
  frequencies are computed in the dtype of the queries, as V-JEPA 2 does.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor


def rope_3d_split(head_dims: int) -> int:
    """Channels per axis ``s = 2 ((head_dims // 3) // 2)`` of a head."""
    return 2 * ((head_dims // 3) // 2)


def grid_positions(grid: Sequence[int], indices: Optional[Tensor] = None,
                   device=None) -> Tensor:
    """The ``(t, h, w)`` grid positions of tokens in flattened order.

    Args:
        grid (Sequence[int]): The token grid ``(T', H', W')``.
        indices (Tensor, optional): LongTensor ``[B, K]`` of flattened
            ``(t, h, w)`` token indices; None means all ``T'H'W'`` tokens.
        device: Device of the result when ``indices`` is None.

    Returns:
        Tensor: int64 ``[1, N, 3]`` (all tokens) or ``[B, K, 3]``.
    """
    _, H, W = grid
    if indices is None:
        indices = torch.arange(grid[0] * H * W, device=device)[None]  # [1, N]
    t = torch.div(indices, H * W, rounding_mode='floor')
    rest = indices - t * (H * W)
    h = torch.div(rest, W, rounding_mode='floor')
    w = rest - h * W
    return torch.stack([t, h, w], dim=-1)  # [B, K, 3]


def _rotate_chunk(x: Tensor, pos: Tensor) -> Tensor:
    """Rotate ``x [B, h, N, s]`` by positions ``pos [B, 1, N]``."""
    half = x.shape[-1] // 2
    omega = torch.arange(half, dtype=x.dtype, device=x.device) / half
    omega = 1. / 10000**omega  # [s/2]
    theta = pos.to(x.dtype).unsqueeze(-1) * omega  # [B, 1, N, s/2]
    theta = torch.cat([theta, theta], dim=-1)  # [B, 1, N, s] (repeated)
    pairs = x.unflatten(-1, (half, 2))  # [B, h, N, s/2, 2]
    swapped = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return x * theta.cos() + swapped * theta.sin()


def apply_rope_3d(x: Tensor, positions: Tensor) -> Tensor:
    """Apply V-JEPA 2's 3D RoPE (module docstring) to queries or keys.

    Args:
        x (Tensor): Queries or keys ``[B, heads, N, d]``.
        positions (Tensor): Integer ``(t, h, w)`` positions ``[B, N, 3]`` or
            ``[1, N, 3]`` (see :func:`grid_positions`).

    Returns:
        Tensor: ``[B, heads, N, d]``.
    """
    s = rope_3d_split(x.shape[-1])
    if s == 0:
        return x
    parts = [_rotate_chunk(x[..., a * s:(a + 1) * s],
                           positions[:, None, :, a]) for a in range(3)]
    parts.append(x[..., 3 * s:])  # unrotated rest (may be empty)
    return torch.cat(parts, dim=-1)
