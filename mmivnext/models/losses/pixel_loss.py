"""Per-token mean squared error for deterministic pixel heads."""
from typing import Optional

import torch
from torch import Tensor, nn

from mmivnext.registry import MODELS
from .token_loss_utils import check_token_inputs, weighted_token_mean


@MODELS.register_module()
class PixelMSELoss(nn.Module):
    """Mean squared error per token, then a (weighted) mean over tokens.

    ``l_m = mean_d (pred[m, d] - target[m, d]) ** 2``; the loss is
    ``loss_weight * sum(w * l) / sum(w)`` (plain mean without weights), in
    float32 whatever the input dtype (float64 stays float64).

    Args:
        loss_weight (float): Factor on the loss. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weights: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[M, D]``.
            target (Tensor): ``[M, D]``.
            weights (Tensor, optional): ``[M]`` token weights.

        Returns:
            Tensor: Scalar loss (0 when ``M = 0``).
        """
        check_token_inputs(pred, target, weights)
        if pred.shape != target.shape:
            raise ValueError(f'pred shape {tuple(pred.shape)} differs from '
                             f'target shape {tuple(target.shape)}.')
        dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) \
            else torch.float32
        losses = ((pred.to(dtype) - target.to(dtype))**2).mean(dim=-1)
        return self.loss_weight * weighted_token_mean(losses, weights)

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}'
