"""Heads that align the student encoder with a frozen image teacher."""
from typing import List, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS


@MODELS.register_module()
class TokenAlignmentHead(BaseModule):
    """Per-layer MLPs mapping student tokens to teacher tokens (paper eq. 1).

    Layer ``i`` of the student (e.g. its last 6 encoder layers, visible tokens
    only) goes through its own ``LayerNorm -> Linear -> GELU -> Linear`` to the
    teacher's width and is compared, token by token, with the teacher's
    L2-normalised features of the same positions in layer ``i`` of the
    teacher's chosen layers; the loss is ``2 - 2 cos`` averaged over layers.

    Args:
        in_dims (int): Student width ``C``.
        out_dims (int): Teacher width ``C_t``.
        num_layers (int): How many (student, teacher) layer pairs. Defaults
            to 6.
        hidden_dims (int, optional): MLP hidden width. Defaults to
            ``out_dims``.
        loss (dict): The alignment loss. Defaults to
            ``dict(type='CosineSimilarityLoss')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_dims: int,
                 out_dims: int,
                 num_layers: int = 6,
                 hidden_dims: Optional[int] = None,
                 loss: dict = dict(type='CosineSimilarityLoss'),
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02,
                     bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden_dims = hidden_dims or out_dims
        self.num_layers = num_layers
        self.projs = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(in_dims), nn.Linear(in_dims, hidden_dims),
                nn.GELU(), nn.Linear(hidden_dims, out_dims))
            for _ in range(num_layers))
        self.loss_module = MODELS.build(loss)

    def forward(self, student: Sequence[Tensor]) -> List[Tensor]:
        """Map each student layer to the teacher's width.

        Args:
            student (Sequence[Tensor]): ``num_layers`` tensors ``[B, K, C]``.

        Returns:
            list[Tensor]: ``num_layers`` tensors ``[B, K, C_t]``.
        """
        if len(student) != self.num_layers:
            raise ValueError(f'Expected {self.num_layers} student layers, '
                             f'got {len(student)}.')
        return [proj(x) for proj, x in zip(self.projs, student)]

    def loss(self, student: Sequence[Tensor],
             teacher: Sequence[Tensor]) -> Tensor:
        """Mean alignment loss over the layer pairs.

        Args:
            student (Sequence[Tensor]): ``num_layers`` tensors ``[B, K, C]``.
            teacher (Sequence[Tensor]): ``num_layers`` tensors
                ``[B, K, C_t]``, features of the same tokens.

        Returns:
            Tensor: The scalar loss.
        """
        if len(teacher) != self.num_layers:
            raise ValueError(f'Expected {self.num_layers} teacher layers, '
                             f'got {len(teacher)}.')
        preds = self(student)
        return sum(
            self.loss_module(p, t)
            for p, t in zip(preds, teacher)) / self.num_layers
