"""What every predictor shares: mask-token filling, position embedding, input
projection, and gathering the output tokens.

The predictor input pipeline follows the authors' code (GitHub
``OpenGVLab/InternVideo``, ``forward_reconstruction_loss`` in
``InternVideo-Next/models/InternVideo_next_s1.py`` and ``_s2.py``). In the
encoder width ``C``, the visible tokens go back to their grid positions, every
masked position gets the learnable mask token, and the predictor's own position
embedding (sin-cos initialised, learnable) is added to all tokens, cls tokens
included; only then the ``C -> D`` projection ``Linear(C, C) - GELU -
Linear(C, D) - LayerNorm(D)`` brings the sequence to the predictor width ``D``.
(So the mask token and ``pos_embed`` are ``C`` wide, not ``D``.)
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils import (check_values, get_3d_sincos_pos_embed, mlp_decoder,
                     pos_embed_load_pre_hook, resize_pos_embed_3d)


class BasePredictor(BaseModule):
    """Base of the predictors: from the encoder's visible tokens to a full
    token sequence in the predictor width.

    **Input.** ``tokens [B, num_cls + K, C]`` as the encoder returns them with
    ``out_type='raw'`` (cls tokens first, then the ``K`` visible tokens in the
    order of ``visible_indices``), ``visible_indices [B, K]`` and
    ``masked_indices [B, M]``: LongTensors of positions in the flattened
    ``(t, h, w)`` grid (``w`` fastest) of ``N = T'H'W' = K + M`` tokens. Together
    they must list every position exactly once; they need not be sorted.

    **Pipeline** (module docstring): fill the grid with the visible tokens and
    the mask token ``[1, 1, C]`` -> add ``pos_embed`` ``[1, num_cls + N, C]``
    (cls rows start at zero, grid rows as the 3D sin-cos embedding; learnable)
    -> ``proj`` to width ``D`` -> the subclass's layers (:meth:`_forward_layers`).

    **Output.** ``[B, num_cls + N, D]``: the cls tokens, then all ``N`` grid
    positions in grid order. With ``masked_only=True``, ``[B, M, D]``: the masked
    positions in the order of ``masked_indices`` (what a pixel or latent head
    consumes). :meth:`select_tokens` gathers any positions from a full output.

    **Position embedding resize.** The grid ``pos_embed`` was made for is kept
    in the persistent int64 buffer ``pos_embed_grid``; on ``load_state_dict`` a
    pre-hook resizes a checkpoint's ``pos_embed`` of another grid (time
    linearly, space bicubically, cls rows kept), as the encoder does. A forward
    with ``grid_size`` other than the model's resizes it on the fly.

    Weights are all set at construction; ``init_weights()`` only applies an
    ``init_cfg`` (e.g. ``Pretrained``).

    Args:
        in_dims (int): Encoder width ``C`` (divisible by 16 for the sin-cos
            embedding).
        embed_dims (int): Predictor width ``D``.
        grid_size (Sequence[int]): Token grid ``(T', H', W')`` of the
            position embedding.
        num_cls_tokens (int): Number of encoder cls tokens (0 allowed).
        init_cfg (dict | list, optional): MMEngine init config.
    """

    def __init__(self,
                 in_dims: int,
                 embed_dims: int,
                 grid_size: Sequence[int],
                 num_cls_tokens: int,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        grid_size = tuple(int(g) for g in grid_size)
        if len(grid_size) != 3 or min(grid_size) < 1:
            raise ValueError(f'grid_size must be three positive sizes '
                             f"(T', H', W'), got {grid_size}.")
        if num_cls_tokens < 0:
            raise ValueError(f'num_cls_tokens must be >= 0, got '
                             f'{num_cls_tokens}.')
        self.in_dims = in_dims
        self.embed_dims = embed_dims
        #: The (T', H', W') token grid the position embedding is made for.
        self.grid_size: Tuple[int, int, int] = grid_size
        self.num_patches = math.prod(grid_size)
        self.num_cls_tokens = num_cls_tokens

        self.mask_token = nn.Parameter(torch.zeros(1, 1, in_dims))
        self.pos_embed = nn.Parameter(get_3d_sincos_pos_embed(
            in_dims, grid_size, num_cls_tokens).unsqueeze(0))
        self.register_buffer('pos_embed_grid',
                             torch.tensor(grid_size, dtype=torch.int64))
        self._register_load_state_dict_pre_hook(pos_embed_load_pre_hook,
                                                with_module=True)
        self.proj = mlp_decoder(in_dims, in_dims, embed_dims)
        self._init_input_parts()

    @torch.no_grad()
    def _init_input_parts(self) -> None:
        """As the authors: trunc-normal(0.02) mask token and projection
        weights, zero biases, unit LayerNorm (``pos_embed`` is sin-cos)."""
        nn.init.trunc_normal_(self.mask_token, std=.02)
        for linear in (self.proj.fc1, self.proj.fc2):
            nn.init.trunc_normal_(linear.weight, std=.02)
            nn.init.zeros_(linear.bias)
        self.proj.norm.reset_parameters()

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def select_tokens(x: Tensor, indices: Tensor, num_cls_tokens: int) -> Tensor:
        """Gather grid positions from a full predictor output.

        Args:
            x (Tensor): ``[B, num_cls + N, D]`` (cls first, grid order).
            indices (Tensor): LongTensor ``[B, M]`` of grid positions.
            num_cls_tokens (int): Number of leading cls tokens of ``x``.

        Returns:
            Tensor: ``[B, M, D]`` in the order of ``indices``.
        """
        index = (indices.long() + num_cls_tokens).unsqueeze(-1)
        return torch.gather(x, 1, index.expand(-1, -1, x.shape[-1]))

    def _pos_embed_for(self, grid: Tuple[int, int, int]) -> Tensor:
        """Position embedding ``[1, num_cls + prod(grid), C]`` for ``grid``."""
        if grid == self.grid_size:
            return self.pos_embed
        return resize_pos_embed_3d(self.pos_embed, self.grid_size, grid,
                                   self.num_cls_tokens)

    def _check_inputs(self, tokens: Tensor, visible_indices: Tensor,
                      masked_indices: Tensor,
                      grid_size: Optional[Sequence[int]]
                      ) -> Tuple[Tuple[int, int, int], Tensor, Tensor]:
        """Validate the inputs; return the grid and the indices as int64."""
        if not torch.is_tensor(tokens) or tokens.dim() != 3 or \
                tokens.shape[-1] != self.in_dims:
            shape = tuple(tokens.shape) if torch.is_tensor(tokens) \
                else type(tokens)
            raise ValueError(f'tokens must be [B, num_cls + K, C={self.in_dims}]'
                             f' (the encoder width), got {shape}.')
        B = tokens.shape[0]
        checked = []
        for name, idx in (('visible_indices', visible_indices),
                          ('masked_indices', masked_indices)):
            if not torch.is_tensor(idx) or idx.dtype not in (torch.int64,
                                                             torch.int32):
                dtype = idx.dtype if torch.is_tensor(idx) else type(idx)
                raise TypeError(f'{name} must be an integer (torch.long) tensor '
                                f'of token positions, got {dtype}.')
            if idx.dim() != 2 or idx.shape[0] != B:
                raise ValueError(f'{name} must have shape [B={B}, n], got '
                                 f'{tuple(idx.shape)}.')
            checked.append(idx.long().to(tokens.device))
        vis, msk = checked
        K, M = vis.shape[1], msk.shape[1]
        if K < 1:
            raise ValueError('visible_indices must list at least one token.')
        if tokens.shape[1] != self.num_cls_tokens + K:
            raise ValueError(
                f'tokens has {tokens.shape[1]} tokens, but num_cls_tokens '
                f'({self.num_cls_tokens}) + K ({K}, from visible_indices) = '
                f'{self.num_cls_tokens + K}.')
        grid = self.grid_size if grid_size is None else \
            tuple(int(g) for g in grid_size)
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(f"grid_size must be three positive sizes (T', H', "
                             f"W'), got {grid}.")
        N = math.prod(grid)
        if K + M != N:
            raise ValueError(
                f'K + M = {K} + {M} = {K + M} visible and masked tokens, but '
                f'the grid {grid} has {N}; pass grid_size for another grid.')
        order = torch.cat([vis, msk], dim=1)  # [B, N]
        in_range = (order >= 0) & (order < N)
        check_values(in_range, f'visible_indices and masked_indices must lie '
                     f'in [0, {N}).')
        counts = torch.zeros(B, N, dtype=torch.int64, device=order.device)
        counts.scatter_add_(1, order * in_range, in_range.long())
        check_values(counts == 1, 'visible_indices and masked_indices '
                     'together must list every grid position exactly once.')
        return grid, vis, msk

    # ---------------------------------------------------------------- forward
    def _embed(self, tokens: Tensor, vis: Tensor, msk: Tensor,
               grid: Tuple[int, int, int]) -> Tensor:
        """Fill, position-embed and project: ``[B, num_cls + K, C]`` ->
        ``[B, num_cls + N, D]``."""
        B, _, C = tokens.shape
        num_cls = self.num_cls_tokens
        mask_tokens = self.mask_token.to(tokens.dtype).expand(
            B, msk.shape[1], -1)  # [B, M, C]
        x = torch.cat([tokens[:, num_cls:], mask_tokens], dim=1)  # [B, N, C]
        restore = torch.cat([vis, msk], dim=1).argsort(dim=1)  # [B, N]
        x = torch.gather(x, 1, restore.unsqueeze(-1).expand(-1, -1, C))
        x = torch.cat([tokens[:, :num_cls], x], dim=1)  # grid order
        x = x + self._pos_embed_for(grid)  # [B, num_cls + N, C]
        return self.proj(x)  # [B, num_cls + N, D]

    def _forward_layers(self, x: Tensor) -> Tensor:
        """Run the predictor's layers: ``[B, L, D]`` -> ``[B, L, D]``."""
        raise NotImplementedError

    def forward(self,
                tokens: Tensor,
                visible_indices: Tensor,
                masked_indices: Tensor,
                grid_size: Optional[Sequence[int]] = None,
                masked_only: bool = False) -> Tensor:
        """Predict all grid positions from the encoder's visible tokens.

        Args:
            tokens (Tensor): Encoder output ``[B, num_cls + K, C]``, cls first.
            visible_indices (Tensor): LongTensor ``[B, K]``, the grid positions
                of ``tokens[:, num_cls:]``.
            masked_indices (Tensor): LongTensor ``[B, M]``, the other positions.
            grid_size (Sequence[int], optional): ``(T', H', W')`` of this input
                if it is not the model's ``grid_size``. Defaults to None.
            masked_only (bool): Return only the masked positions. Defaults to
                False.

        Returns:
            Tensor: ``[B, num_cls + N, D]`` (cls first, grid order), or
            ``[B, M, D]`` in ``masked_indices`` order if ``masked_only``.
        """
        grid, vis, msk = self._check_inputs(tokens, visible_indices,
                                            masked_indices, grid_size)
        x = self._forward_layers(self._embed(tokens, vis, msk, grid))
        if masked_only:
            return self.select_tokens(x, msk, self.num_cls_tokens)
        return x
