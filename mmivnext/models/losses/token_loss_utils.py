"""Input checks and reductions shared by the per-token pixel losses."""
from typing import Optional

from torch import Tensor


def check_token_inputs(z_or_pred: Tensor, target: Tensor,
                       weights: Optional[Tensor]) -> None:
    """Check ``[M, C]`` inputs, a ``[M, D]`` target and ``[M]`` weights.

    Raises:
        ValueError: On any other shape.
    """
    if z_or_pred.dim() != 2 or target.dim() != 2:
        raise ValueError(f'Expected 2-D [M, C] inputs and a [M, D] target, '
                         f'got {tuple(z_or_pred.shape)} and '
                         f'{tuple(target.shape)}.')
    M = target.shape[0]
    if z_or_pred.shape[0] != M:
        raise ValueError(f'Inputs have {z_or_pred.shape[0]} tokens but the '
                         f'target has {M}.')
    if weights is not None and weights.shape != (M, ):
        raise ValueError(f'weights must have shape ({M},), got '
                         f'{tuple(weights.shape)}.')


def weighted_token_mean(losses: Tensor, weights: Optional[Tensor]) -> Tensor:
    """``mean(losses)``, or ``sum(w * losses) / sum(w)``; 0 when empty.

    Args:
        losses (Tensor): ``[N]`` per-token losses.
        weights (Tensor, optional): ``[N]`` non-negative weights.

    Returns:
        Tensor: Scalar, still connected to ``losses``' graph.
    """
    if weights is None:
        return losses.sum() / max(losses.numel(), 1)
    weights = weights.to(losses.dtype)
    return (losses * weights).sum() / weights.sum().clamp(min=1e-12)
