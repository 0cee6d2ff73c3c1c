"""Sigmoid focal loss for single-label classification (the EK100 anticipation
probe's loss, as in V-JEPA 2)."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import sigmoid_focal_loss

from mmivnext.registry import MODELS


@MODELS.register_module()
class SigmoidFocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017, RetinaNet form) on one-vs-all sigmoids.

    For logits ``x [B, K]`` and labels ``y [B]``, each of the ``K`` classes is
    a binary problem with target ``t_k = 1[k == y]``::

        p_k   = sigmoid(x_k)
        p_t   = p_k        if t_k = 1 else 1 - p_k
        a_t   = alpha      if t_k = 1 else 1 - alpha     (1 if alpha is None)
        l_k   = -a_t * (1 - p_t) ** gamma * log(p_t)
        loss_b = sum_k l_k                               (one value per sample)

    ``l_k`` is torchvision's :func:`~torchvision.ops.sigmoid_focal_loss`
    (``log(p_t)`` computed stably as ``-BCEWithLogits(x_k, t_k)``). With
    ``gamma=0`` and ``alpha=None`` it is the binary cross-entropy summed over
    the classes. V-JEPA 2's EK100 anticipation probe uses this loss with
    ``alpha=0.25``, ``gamma=2`` and a sum over the batch too
    (``reduction='sum'``); the default here averages over the samples instead,
    so that the loss does not grow with the batch size (under AdamW the two
    give the same updates up to AdamW's epsilon).

    Args:
        gamma (float): Focusing exponent, ``>= 0``. Defaults to 2.0.
        alpha (float, optional): Weight of the positive class in ``[0, 1]``
            (negatives get ``1 - alpha``); None weighs both 1. Defaults to
            0.25.
        reduction (str): ``'mean'``: the mean over the samples of ``loss_b``;
            ``'sum'``: the sum over the samples; ``'none'``: ``[B]``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplies the loss. Defaults to 1.0.
    """

    REDUCTIONS = ('mean', 'sum', 'none')

    def __init__(self,
                 gamma: float = 2.0,
                 alpha: Optional[float] = 0.25,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f'gamma must be >= 0, got {gamma}.')
        if alpha is not None and not 0. <= alpha <= 1.:
            raise ValueError(f'alpha must be in [0, 1] or None, got {alpha}.')
        if reduction not in self.REDUCTIONS:
            raise ValueError(f'reduction must be one of {self.REDUCTIONS}, '
                             f'got {reduction!r}.')
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma}, alpha={self.alpha}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            logits (Tensor): ``[B, K]`` class logits.
            labels (Tensor): ``[B]`` integer labels in ``[0, K)``.

        Returns:
            Tensor: A scalar, or ``[B]`` with ``reduction='none'``; float32.
        """
        if logits.dim() != 2:
            raise ValueError(f'logits must be [B, K], got shape '
                             f'{tuple(logits.shape)}.')
        if labels.shape != logits.shape[:1] or labels.is_floating_point():
            raise ValueError(
                f'labels must be an integer tensor of shape '
                f'[{logits.shape[0]}], got {labels.dtype} '
                f'{tuple(labels.shape)}.')
        num_classes = logits.shape[1]
        labels = labels.long()
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():  # a host read, but a label error must name its value
            raise ValueError(
                f'labels must lie in [0, {num_classes}) (the classifier has '
                f'{num_classes} classes), got {labels[bad].unique().tolist()};'
                ' does the head size match the dataset (e.g. the number of '
                'rows of the actions CSV)?')
        logits = logits.float()
        target = F.one_hot(labels, num_classes).to(logits.dtype)  # [B, K]
        loss = sigmoid_focal_loss(  # l_k, [B, K]; alpha -1: no weighting
            logits, target, alpha=-1 if self.alpha is None else self.alpha,
            gamma=self.gamma).sum(dim=1)  # [B]
        if self.reduction == 'mean':
            loss = loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return self.loss_weight * loss
