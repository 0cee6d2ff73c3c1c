"""Cosine alignment loss ``2 - 2 cos(pred, target)``."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmivnext.registry import MODELS


@MODELS.register_module()
class CosineSimilarityLoss(nn.Module):
    """``2 - 2 cos(pred, target)`` over the last dimension, averaged.

    Equal to the squared distance of the L2-normalised vectors, so it lies in
    ``[0, 4]`` and is 0 when the vectors point the same way. The target is
    detached: it comes from a frozen teacher.

    Args:
        loss_weight (float): Multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[..., C]``.
            target (Tensor): ``[..., C]``, the same shape as ``pred``.
            weight (Tensor, optional): ``[...]`` non-negative weights of the
                vectors; the loss is their weighted mean. Defaults to None.

        Returns:
            Tensor: The scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target '
                             f'{tuple(target.shape)} differ in shape.')
        cos = F.cosine_similarity(
            pred.float(), target.detach().float(), dim=-1)  # [...]
        loss = 2 - 2 * cos
        if weight is None:
            loss = loss.mean()
        else:
            weight = weight.to(loss.dtype)
            loss = (loss * weight).sum() / weight.sum().clamp_min(
                torch.finfo(loss.dtype).eps)
        return self.loss_weight * loss
