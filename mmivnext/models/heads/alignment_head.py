"""Head that aligns the student encoder's tokens with a frozen image teacher."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import (get_3d_sincos_pos_embed, init_linear_and_norm_,
                     mlp_decoder, pos_embed_load_pre_hook,
                     resize_pos_embed_3d)


@MODELS.register_module()
class TokenAlignmentHead(BaseModule):
    """Per-layer MLPs mapping visible student tokens to the teacher's tokens
    (paper eq. 1), as the authors' Stage 1.

    A learnable position embedding ``pos_embed`` (3D sin-cos at init, one row
    per grid position, shared by the layers) is added to the visible tokens of
    each aligned student layer; layer ``i`` then goes through its own
    ``Linear(C, C) - GELU - Linear(C, C_t) - LayerNorm`` and is compared, token
    by token, with the teacher's L2-normalised features of the same positions
    in layer ``i`` of the teacher's chosen layers; the loss is ``2 - 2 cos``
    averaged over layers (the authors L2-normalise the output and take
    ``2 - 2 <o, t>``: the same number). Authors' code: ``clip_pos_embed`` and
    ``clip_decoder`` (``MLP_Decoder``) in ``models/InternVideo_next_s1.py``.

    Args:
        in_dims (int): Student width ``C`` (divisible by 16 for the sin-cos
            embedding).
        out_dims (int): Teacher width ``C_t``.
        grid_size (Sequence[int]): The student's token grid ``(T', H', W')``;
            a forward on another grid resizes ``pos_embed`` on the fly, and a
            checkpoint of another grid is resized when loaded.
        num_layers (int): How many (student, teacher) layer pairs. Defaults
            to 6.
        hidden_dims (int, optional): MLP hidden width. Defaults to
            ``in_dims`` (the authors').
        loss (dict): The alignment loss. Defaults to
            ``dict(type='CosineSimilarityLoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    #: The pos_embed has no cls rows (the cls tokens are not aligned).
    num_cls_tokens = 0

    def __init__(self,
                 in_dims: int,
                 out_dims: int,
                 grid_size: Sequence[int],
                 num_layers: int = 6,
                 hidden_dims: Optional[int] = None,
                 loss: dict = dict(type='CosineSimilarityLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        grid_size = tuple(int(g) for g in grid_size)
        if len(grid_size) != 3 or min(grid_size) < 1:
            raise ValueError(f"grid_size must be three positive sizes (T', "
                             f"H', W'), got {grid_size}.")
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}.')
        self.in_dims, self.out_dims = in_dims, out_dims
        self.num_layers = num_layers
        self.grid_size: Tuple[int, int, int] = grid_size
        self.pos_embed = nn.Parameter(
            get_3d_sincos_pos_embed(in_dims, grid_size).unsqueeze(0))
        self.register_buffer('pos_embed_grid',
                             torch.tensor(grid_size, dtype=torch.int64))
        self._register_load_state_dict_pre_hook(pos_embed_load_pre_hook,
                                                with_module=True)
        self.projs = nn.ModuleList(
            mlp_decoder(in_dims, hidden_dims or in_dims, out_dims)
            for _ in range(num_layers))
        self.loss_module = MODELS.build(loss)
        init_linear_and_norm_(self.projs, std=.02)  # the authors' init

    def forward(self,
                student: Sequence[Tensor],
                visible_indices: Tensor,
                grid_size: Optional[Sequence[int]] = None) -> List[Tensor]:
        """Map each student layer to the teacher's width.

        Args:
            student (Sequence[Tensor]): ``num_layers`` tensors ``[B, K, C]``,
                the visible tokens (cls tokens removed).
            visible_indices (Tensor): LongTensor ``[B, K]``, their positions
                in the flattened grid.
            grid_size (Sequence[int], optional): The grid of these tokens.
                Defaults to ``grid_size``.

        Returns:
            list[Tensor]: ``num_layers`` tensors ``[B, K, C_t]``.
        """
        if len(student) != self.num_layers:
            raise ValueError(f'Expected {self.num_layers} student layers, '
                             f'got {len(student)}.')
        grid = self.grid_size if grid_size is None else \
            tuple(int(g) for g in grid_size)
        pos_embed = resize_pos_embed_3d(self.pos_embed, self.grid_size, grid)
        if visible_indices.shape != student[0].shape[:2]:
            raise ValueError(f'visible_indices must be [B, K] = '
                             f'{tuple(student[0].shape[:2])}, got '
                             f'{tuple(visible_indices.shape)}.')
        pos = pos_embed[0][visible_indices]  # [B, K, C]
        return [proj(x + pos.to(x.dtype))
                for proj, x in zip(self.projs, student)]

    def loss(self,
             student: Sequence[Tensor],
             teacher: Sequence[Tensor],
             visible_indices: Tensor,
             grid_size: Optional[Sequence[int]] = None) -> Tensor:
        """Mean alignment loss over the layer pairs.

        Args:
            student, visible_indices, grid_size: As in :meth:`forward`.
            teacher (Sequence[Tensor]): ``num_layers`` tensors
                ``[B, K, C_t]``, features of the same tokens.

        Returns:
            Tensor: The scalar loss.
        """
        if len(teacher) != self.num_layers:
            raise ValueError(f'Expected {self.num_layers} teacher layers, '
                             f'got {len(teacher)}.')
        preds = self(student, visible_indices, grid_size)
        return sum(
            self.loss_module(p, t)
            for p, t in zip(preds, teacher)) / self.num_layers
