"""Box regression losses of the tracking probe: Smooth L1 and GIoU.

Both take matched boxes ``pred [M, 4]`` and ``target [M, 4]`` in
``(x1, y1, x2, y2)`` (the tracking probe passes normalised coordinates of the
visible (object, frame) pairs), average over the ``M`` pairs, and return 0
(still attached to ``pred``'s graph) for ``M = 0``. They compute in float32
(float64 stays float64).
"""
import torch
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils.box_ops import paired_generalized_box_iou


def _check_boxes(pred: Tensor, target: Tensor) -> torch.dtype:
    """Check matched ``[M, 4]`` boxes; return the compute dtype."""
    if pred.shape != target.shape or pred.dim() != 2 or pred.shape[1] != 4:
        raise ValueError(f'Expected pred and target boxes [M, 4] of one '
                         f'shape, got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}.')
    return torch.float64 if torch.float64 in (pred.dtype, target.dtype) \
        else torch.float32


@MODELS.register_module()
class BoxSmoothL1Loss(nn.Module):
    """Smooth L1 (Huber) loss on box coordinates.

    Per coordinate, with ``d = pred - target``::

        l(d) = 0.5 * d ** 2 / beta   if |d| < beta
               |d| - 0.5 * beta      otherwise

    The loss is ``loss_weight`` times the mean of ``l`` over the ``M x 4``
    coordinates (``torch.nn.functional.smooth_l1_loss``).

    Args:
        beta (float): Where the loss turns from quadratic to linear, in the
            units of the boxes; 0 gives the L1 loss. For boxes normalised to
            ``[0, 1]``, torch's default of 1 is quadratic everywhere, so
            the probe configs use 0.1 (our choice: the paper gives none).
            Defaults to 1.
        loss_weight (float): Factor on the loss. Defaults to 1 (the paper).
    """

    def __init__(self, beta: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f'beta must be >= 0, got {beta}')
        self.beta = beta
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[M, 4]`` predicted boxes.
            target (Tensor): ``[M, 4]`` target boxes.

        Returns:
            Tensor: Scalar loss (0 when ``M = 0``).
        """
        dtype = _check_boxes(pred, target)
        if pred.shape[0] == 0:
            return pred.sum().to(dtype) * 0.
        loss = nn.functional.smooth_l1_loss(
            pred.to(dtype), target.to(dtype), beta=self.beta)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f'beta={self.beta}, loss_weight={self.loss_weight}'


@MODELS.register_module()
class GIoULoss(nn.Module):
    """Generalised-IoU loss (Rezatofighi et al., CVPR 2019).

    With ``C`` the smallest box enclosing the predicted box ``A`` and the
    target ``B``::

        GIoU = |A ∩ B| / |A ∪ B| - (|C| - |A ∪ B|) / |C|
        loss = loss_weight * mean over the M pairs of (1 - GIoU)

    so each pair costs 0 (same box) to 2 (far apart, tiny boxes). A predicted
    box with ``x2 < x1`` or ``y2 < y1`` has area 0 (see
    :func:`~mmivnext.models.utils.box_ops.paired_generalized_box_iou`).

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.5 (the paper's
            weight next to Smooth L1 at 1).
        eps (float): Floor of the union and of ``|C|``. Defaults to 1e-7.
    """

    def __init__(self, loss_weight: float = 0.5, eps: float = 1e-7) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f'eps must be > 0, got {eps}')
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[M, 4]`` predicted boxes.
            target (Tensor): ``[M, 4]`` target boxes.

        Returns:
            Tensor: Scalar loss (0 when ``M = 0``).
        """
        dtype = _check_boxes(pred, target)
        if pred.shape[0] == 0:
            return pred.sum().to(dtype) * 0.
        giou = paired_generalized_box_iou(pred.to(dtype), target.to(dtype),
                                          eps=self.eps)  # [M]
        return self.loss_weight * (1. - giou).mean()

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, eps={self.eps}'
