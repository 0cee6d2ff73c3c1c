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

    With ``normalize_target=False`` the loss is ``2 - 2 <pred / |pred|,
    target>``: the target is used as given, e.g. the mean over frames of unit
    vectors (norm <= 1), as the authors' global alignment
    (``engines/engine_for_stage1.py``: the frame-averaged teacher vector is
    not re-normalised).

    Args:
        loss_weight (float): Multiplies the loss. Defaults to 1.0.
        normalize_target (bool): L2-normalise the target. Defaults to True.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 normalize_target: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.normalize_target = normalize_target

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
        pred, target = pred.float(), target.detach().float()
        if self.normalize_target:
            cos = F.cosine_similarity(pred, target, dim=-1)  # [...]
        else:
            cos = (F.normalize(pred, dim=-1) * target).sum(-1)  # [...]
        loss = 2 - 2 * cos
        if weight is None:
            loss = loss.mean()
        else:
            weight = weight.to(loss.dtype)
            loss = (loss * weight).sum() / weight.sum().clamp_min(
                torch.finfo(loss.dtype).eps)
        return self.loss_weight * loss
