"""Position embeddings of token grids: the tables, resizing them to another grid,
and the position-embedding schemes of the video encoder with their load hooks.

Token order: a ``(T, H, W)`` grid is flattened with ``w`` fastest, i.e. token
``n = (t * H + h) * W + w``. Extra tokens (cls tokens) come first.

Channel layout of :func:`get_3d_sincos_pos_embed` for width ``C`` (as in
MAE-ST / VideoMAE / InternVideo2 / InternVideo-Next)::

    [ t: C/4 | w: 3C/8 | h: 3C/8 ]

each part being a 1-D embedding ``[sin(p * omega), cos(p * omega)]`` of the
position ``p`` along that axis, with ``omega_i = temperature ** (-i / (D / 2))``
for a part of width ``D``. (The column index ``w`` precedes the row index ``h``,
as in MAE's 2-D embedding, whose ``meshgrid`` puts ``w`` first.)

Schemes (``pos_embed_type``, :data:`POS_EMBED_TYPES`)
-----------------------------------------------------
:func:`register_pos_embed` gives a module (``VisionTransformer3D``) one of:

* ``'sincos_3d'``: ``pos_embed [1, num_cls + N, C]`` whose grid rows start as
  :func:`get_3d_sincos_pos_embed` and whose cls rows start at zero; a
  parameter if learnable (cls rows learnable too), else a persistent buffer
  (cls rows stay zero); the state-dict key is the same. The grid it was made
  for is kept in the persistent int64 buffer ``pos_embed_grid = (T', H', W')``.
  On ``load_state_dict``, :func:`pos_embed_load_pre_hook` resizes a
  checkpoint's ``pos_embed`` of another grid (time linearly, space
  bicubically; cls rows kept) and logs it; the checkpoint's grid is its
  ``pos_embed_grid``, or, if it has none (e.g. a converted checkpoint),
  inferred from the token count (:func:`infer_pos_embed_grid`). For inputs of
  another grid the embedding is resized on the fly
  (:func:`pos_embed_for_grid`).
* ``'sinusoid_1d'``: the same, with VideoMAE's 1-D sinusoid table over the
  flattened token index (:func:`get_1d_sinusoid_table`) as grid rows. When it
  is also fixed (not learnable, as in VideoMAE v2), the table is rebuilt, not
  interpolated, for another grid, on load
  (:func:`rebuild_fixed_table_load_pre_hook`) and in forward, as VideoMAE v2
  builds its table for the input size.
* ``'rope_3d'`` (V-JEPA 2's encoders, no cls tokens): no ``pos_embed`` and
  no ``pos_embed_grid`` at all: the attention layers rotate queries and keys
  by each token's ``(t, h, w)`` grid position
  (:mod:`mmivnext.models.utils.rope`), for inputs of any size.

The module must have the attributes ``embed_dims``, ``grid_size`` (the
``(T', H', W')`` grid the embedding is made for) and ``num_cls_tokens``;
:func:`register_pos_embed` sets ``pos_embed_type`` and
``pos_embed_learnable``.
"""
import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

Grid = Tuple[int, int, int]

#: The position-embedding schemes (module docstring).
POS_EMBED_TYPES = ('sincos_3d', 'sinusoid_1d', 'rope_3d')


def _as_grid(grid: Sequence[int], name: str) -> Grid:
    grid = tuple(int(g) for g in grid)
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f'{name} must be three positive sizes (T, H, W), '
                         f'got {grid}.')
    return grid


def get_1d_sincos_pos_embed(embed_dims: int,
                            positions: Tensor,
                            temperature: float = 10000.) -> Tensor:
    """1-D sine-cosine embedding of positions.

    Args:
        embed_dims (int): Output width ``D`` (even).
        positions (Tensor): Positions of any shape, flattened to ``[M]``.
        temperature (float): Frequency base. Defaults to 10000.

    Returns:
        Tensor: float32 ``[M, D]``; the first ``D / 2`` channels are sines, the
        rest cosines.
    """
    if embed_dims % 2:
        raise ValueError(f'embed_dims must be even, got {embed_dims}.')
    half = embed_dims // 2
    omega = torch.arange(half, dtype=torch.float64) / half
    omega = temperature**-omega  # [D/2]
    angles = positions.reshape(-1, 1).to(torch.float64) * omega  # [M, D/2]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # [M, D]


def get_3d_sincos_pos_embed(embed_dims: int,
                            grid_size: Sequence[int],
                            num_extra_tokens: int = 0,
                            temperature: float = 10000.) -> Tensor:
    """3-D sine-cosine embedding of a ``(T, H, W)`` token grid.

    Args:
        embed_dims (int): Width ``C``; must be divisible by 16 so that every part
            of the channel layout (module docstring) has an even width.
        grid_size (Sequence[int]): ``(T, H, W)``.
        num_extra_tokens (int): Number of zero rows prepended for extra tokens.
            Defaults to 0.
        temperature (float): Frequency base. Defaults to 10000.

    Returns:
        Tensor: float32 ``[num_extra_tokens + T * H * W, C]``.
    """
    if embed_dims % 16:
        raise ValueError('The 3-D sin-cos position embedding needs embed_dims '
                         f'divisible by 16, got {embed_dims}.')
    t, h, w = _as_grid(grid_size, 'grid_size')
    dims_t = embed_dims // 4
    dims_s = (embed_dims - dims_t) // 2  # per spatial axis
    grid_t, grid_h, grid_w = torch.meshgrid(
        torch.arange(t), torch.arange(h), torch.arange(w),
        indexing='ij')  # each [T, H, W]
    pos_embed = torch.cat([
        get_1d_sincos_pos_embed(dims_t, grid_t, temperature),
        get_1d_sincos_pos_embed(dims_s, grid_w, temperature),
        get_1d_sincos_pos_embed(dims_s, grid_h, temperature),
    ], dim=1)  # [T*H*W, C]
    extra = pos_embed.new_zeros(num_extra_tokens, embed_dims)
    return torch.cat([extra, pos_embed], dim=0)


def get_1d_sinusoid_table(num_positions: int,
                          embed_dims: int,
                          num_extra_tokens: int = 0,
                          temperature: float = 10000.) -> Tensor:
    """The 1-D sinusoid table of the Transformer (VideoMAE / VideoMAE v2).

    Token ``n`` of the flattened ``(t, h, w)`` grid gets channel ``j`` equal to
    ``sin(n * omega_j)`` for even ``j`` and ``cos(n * omega_j)`` for odd ``j``,
    with ``omega_j = temperature ** (-2 * (j // 2) / C)``: sines and cosines
    interleaved, one position per token, no notion of the three axes. Computed
    in float64 and returned as float32, as VideoMAE's
    ``get_sinusoid_encoding_table`` does.

    Args:
        num_positions (int): Number of grid tokens ``N``.
        embed_dims (int): Width ``C``.
        num_extra_tokens (int): Number of zero rows prepended for extra tokens.
            Defaults to 0.
        temperature (float): Frequency base. Defaults to 10000.

    Returns:
        Tensor: float32 ``[num_extra_tokens + N, C]``.
    """
    if num_positions < 1 or embed_dims < 1:
        raise ValueError(f'num_positions and embed_dims must be positive, got '
                         f'{num_positions} and {embed_dims}.')
    exponent = 2 * (torch.arange(embed_dims, dtype=torch.float64) // 2)
    period = temperature**(exponent / embed_dims)  # [C], 1 / omega
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] / period
    table = torch.where(torch.arange(embed_dims) % 2 == 0, angles.sin(),
                        angles.cos()).float()  # [N, C]
    extra = table.new_zeros(num_extra_tokens, embed_dims)
    return torch.cat([extra, table], dim=0)


def _interpolate(x: Tensor, size: tuple, mode: str) -> Tensor:
    align = None if mode in ('nearest', 'nearest-exact') else False
    return F.interpolate(x, size=size, mode=mode, align_corners=align)


def resize_pos_embed_3d(pos_embed: Tensor,
                        src_grid: Sequence[int],
                        dst_grid: Sequence[int],
                        num_extra_tokens: int = 0,
                        temporal_mode: str = 'linear',
                        spatial_mode: str = 'bicubic') -> Tensor:
    """Resize a position embedding from one ``(T, H, W)`` grid to another.

    Time is interpolated first (``temporal_mode``), then each frame's spatial
    map (``spatial_mode``), both with ``align_corners=False``; an axis whose
    size does not change is left untouched. The extra tokens are kept as they
    are. Computation is in float32; the result has the input's dtype.

    Args:
        pos_embed (Tensor): ``[B, num_extra_tokens + prod(src_grid), C]``.
        src_grid (Sequence[int]): ``(T, H, W)`` of ``pos_embed``.
        dst_grid (Sequence[int]): Target ``(T', H', W')``.
        num_extra_tokens (int): Leading tokens that are not on the grid.
            Defaults to 0.
        temporal_mode (str): 1-D mode of :func:`torch.nn.functional.interpolate`.
            Defaults to ``'linear'``.
        spatial_mode (str): 2-D mode. Defaults to ``'bicubic'``.

    Returns:
        Tensor: ``[B, num_extra_tokens + prod(dst_grid), C]``.
    """
    t, h, w = _as_grid(src_grid, 'src_grid')
    t2, h2, w2 = _as_grid(dst_grid, 'dst_grid')
    if pos_embed.dim() != 3 or pos_embed.shape[1] != num_extra_tokens + t * h * w:
        raise ValueError(
            f'pos_embed of shape {tuple(pos_embed.shape)} does not hold '
            f'{num_extra_tokens} extra tokens and a {(t, h, w)} grid.')
    if (t, h, w) == (t2, h2, w2):
        return pos_embed
    b, _, c = pos_embed.shape
    extra = pos_embed[:, :num_extra_tokens]  # [B, E, C]
    x = pos_embed[:, num_extra_tokens:].float().reshape(b, t, h, w, c)
    if t != t2:
        x = x.permute(0, 2, 3, 4, 1).reshape(b * h * w, c, t)
        x = _interpolate(x, (t2, ), temporal_mode)  # [B*H*W, C, T']
        x = x.reshape(b, h, w, c, t2).permute(0, 4, 1, 2, 3)  # [B, T', H, W, C]
    if (h, w) != (h2, w2):
        x = x.reshape(b * t2, h, w, c).permute(0, 3, 1, 2)
        x = _interpolate(x, (h2, w2), spatial_mode)  # [B*T', C, H', W']
        x = x.permute(0, 2, 3, 1).reshape(b, t2, h2, w2, c)
    x = x.reshape(b, t2 * h2 * w2, c).to(pos_embed.dtype)
    return torch.cat([extra, x], dim=1)


def infer_pos_embed_grid(num_patches: int, ref_grid: Sequence[int]) -> Grid:
    """Infer the grid of a position embedding from its number of grid tokens.

    Two kinds of grid are considered: one with the spatial size of ``ref_grid``
    and another frame count, and one with the frame count of ``ref_grid`` and
    the spatial size scaled by one factor on both axes (same aspect ratio).

    Args:
        num_patches (int): Number of grid tokens (extra tokens excluded).
        ref_grid (Sequence[int]): A known ``(T, H, W)``, e.g. the model's.

    Returns:
        tuple[int, int, int]: The grid.

    Raises:
        ValueError: if no candidate fits, or if two different ones do.
    """
    t, h, w = _as_grid(ref_grid, 'ref_grid')
    candidates = set()
    if num_patches % (h * w) == 0:
        candidates.add((num_patches // (h * w), h, w))
    if num_patches % t == 0:
        scale = math.sqrt(num_patches // t / (h * w))
        h2, w2 = round(h * scale), round(w * scale)
        if h2 >= 1 and w2 >= 1 and t * h2 * w2 == num_patches:
            candidates.add((t, h2, w2))
    if len(candidates) == 1:
        return candidates.pop()
    reason = ('fits none of the grids with the same spatial size or the same '
              'frame count' if not candidates else
              f'fits several grids: {sorted(candidates)}')
    raise ValueError(
        f'Cannot infer the grid of a position embedding of {num_patches} tokens '
        f'for a model with grid {(t, h, w)}: it {reason}. Give the checkpoint '
        f'its grid (a "pos_embed_grid" entry holding (T, H, W)).')


def pos_embed_load_pre_hook(module, state_dict: dict, prefix: str,
                            local_metadata: dict, strict: bool,
                            missing_keys: list, unexpected_keys: list,
                            error_msgs: list) -> None:
    """Load-state-dict pre-hook resizing ``pos_embed`` to the module's grid
    (``'sincos_3d'`` in the module docstring).

    For any module with ``pos_embed``, ``pos_embed_grid``, ``grid_size`` and
    ``num_cls_tokens``; register it with
    ``module._register_load_state_dict_pre_hook(pos_embed_load_pre_hook,
    with_module=True)``.
    """
    key, grid_key = prefix + 'pos_embed', prefix + 'pos_embed_grid'
    pos_embed = state_dict.get(key)
    if pos_embed is None or pos_embed.dim() != 3 or \
            pos_embed.shape[-1] != module.pos_embed.shape[-1]:
        return  # missing or of another width: the load itself reports it
    num_cls = module.num_cls_tokens
    if grid_key in state_dict:
        src_grid = tuple(int(g) for g in state_dict[grid_key].tolist())
        num_extra = pos_embed.shape[1] - math.prod(src_grid)
        if num_extra != num_cls:
            raise ValueError(
                f'{key} of shape {tuple(pos_embed.shape)} with grid '
                f'{src_grid} has {num_extra} cls rows, but the model has '
                f'{num_cls} cls tokens.')
    else:
        src_grid = infer_pos_embed_grid(pos_embed.shape[1] - num_cls,
                                        module.grid_size)
    if src_grid != tuple(module.grid_size):
        state_dict[key] = resize_pos_embed_3d(pos_embed, src_grid,
                                              module.grid_size, num_cls)
        print_log(
            f'Resized {key} from the (T, H, W) token grid {src_grid} to '
            f'{tuple(module.grid_size)}.', logger='current')
    state_dict[grid_key] = module.pos_embed_grid.clone()


# ------------------------------------------------- schemes (module docstring)
def initial_pos_embed(pos_embed_type: str,
                      embed_dims: int,
                      grid_size: Sequence[int],
                      num_extra_tokens: int = 0) -> Tensor:
    """The initial position embedding of a scheme for a token grid.

    Args:
        pos_embed_type (str): ``'sinusoid_1d'`` for
            :func:`get_1d_sinusoid_table`, else
            :func:`get_3d_sincos_pos_embed`.
        embed_dims (int): Width ``C``.
        grid_size (Sequence[int]): ``(T, H, W)``.
        num_extra_tokens (int): Number of zero rows prepended for extra tokens.
            Defaults to 0.

    Returns:
        Tensor: float32 ``[1, num_extra_tokens + T * H * W, C]``.
    """
    if pos_embed_type == 'sinusoid_1d':
        table = get_1d_sinusoid_table(math.prod(grid_size), embed_dims,
                                      num_extra_tokens)
    else:
        table = get_3d_sincos_pos_embed(embed_dims, grid_size,
                                        num_extra_tokens)
    return table.unsqueeze(0)


def is_rebuilt_pos_embed(module: nn.Module) -> bool:
    """Whether ``module``'s position embedding is a fixed 1-D sinusoid table,
    rebuilt rather than interpolated for another grid."""
    return module.pos_embed_type == 'sinusoid_1d' and \
        not module.pos_embed_learnable


def register_pos_embed(module: nn.Module, pos_embed_type: str,
                       learnable: bool) -> None:
    """Give ``module`` the position embedding of a scheme (module docstring),
    with its load hooks.

    Sets ``module.pos_embed_type``, ``module.pos_embed_learnable`` and
    ``module.pos_embed`` (None with ``'rope_3d'``); registers
    ``pos_embed_grid`` and the load-state-dict pre-hooks, in this order:
    :func:`rebuild_fixed_table_load_pre_hook` (fixed 1-D tables only), then
    :func:`pos_embed_load_pre_hook`.

    Args:
        module (nn.Module): A module with ``embed_dims``, ``grid_size`` and
            ``num_cls_tokens`` (module docstring).
        pos_embed_type (str): One of :data:`POS_EMBED_TYPES`.
        learnable (bool): Learnable (parameter) or fixed (buffer) embedding.

    Raises:
        ValueError: An unknown ``pos_embed_type``, or ``'rope_3d'`` with cls
            tokens.
    """
    if pos_embed_type not in POS_EMBED_TYPES:
        raise ValueError(f'pos_embed_type must be one of '
                         f'{POS_EMBED_TYPES}, got {pos_embed_type!r}.')
    module.pos_embed_type = pos_embed_type
    module.pos_embed_learnable = learnable
    if pos_embed_type == 'rope_3d':
        if module.num_cls_tokens:
            raise ValueError("pos_embed_type='rope_3d' needs "
                             f'num_cls_tokens=0, got {module.num_cls_tokens}.')
        module.pos_embed = None  # positions enter by RoPE in attention
        return
    pos_embed = initial_pos_embed(pos_embed_type, module.embed_dims,
                                  module.grid_size,
                                  module.num_cls_tokens)  # [1, n_cls+N, C]
    if learnable:
        module.pos_embed = nn.Parameter(pos_embed)
    else:
        module.register_buffer('pos_embed', pos_embed)
    module.register_buffer('pos_embed_grid', torch.tensor(
        module.grid_size, dtype=torch.int64))
    if is_rebuilt_pos_embed(module):
        module._register_load_state_dict_pre_hook(
            rebuild_fixed_table_load_pre_hook, with_module=True)
    module._register_load_state_dict_pre_hook(
        pos_embed_load_pre_hook, with_module=True)


def pos_embed_for_grid(module: nn.Module, grid: Grid) -> Tensor:
    """``module``'s position embedding ``[1, num_cls + prod(grid), C]`` for
    ``grid``: its own for its grid, else rebuilt (fixed 1-D tables) or
    resized (:func:`resize_pos_embed_3d`)."""
    if grid == module.grid_size:
        return module.pos_embed
    if is_rebuilt_pos_embed(module):
        return initial_pos_embed(module.pos_embed_type, module.embed_dims,
                                 grid, module.num_cls_tokens).to(
                                     module.pos_embed)
    return resize_pos_embed_3d(module.pos_embed, module.grid_size, grid,
                               module.num_cls_tokens)


def rebuild_fixed_table_load_pre_hook(module: nn.Module, state_dict: dict,
                                      prefix: str, *args) -> None:
    """Load-state-dict pre-hook of a fixed 1-D sinusoid table: replace a
    checkpoint's ``pos_embed`` made for another grid by ``module``'s own
    table (instead of the interpolation of :func:`pos_embed_load_pre_hook`)."""
    key, grid_key = prefix + 'pos_embed', prefix + 'pos_embed_grid'
    pos_embed = state_dict.get(key)
    if pos_embed is None or pos_embed.dim() != 3 or \
            pos_embed.shape[-1] != module.embed_dims:
        return  # missing or of another width: the load reports it
    grid = state_dict.get(grid_key)
    if pos_embed.shape[1] == module.pos_embed.shape[1] and (
            grid is None or grid.tolist() == list(module.grid_size)):
        return  # made for this grid
    state_dict[key] = module.pos_embed.detach().clone()
    state_dict[grid_key] = module.pos_embed_grid.clone()
    print_log(f'Rebuilt the fixed 1-D sinusoid {key} for the (T, H, W) '
              f'token grid {tuple(module.grid_size)} instead of loading the '
              f'one with {pos_embed.shape[1]} rows.', logger='current')
