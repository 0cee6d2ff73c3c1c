"""Scale-invariant logarithmic loss for depth (Eigen et al., NeurIPS 2014)."""
import torch
from torch import Tensor, nn

from mmivnext.registry import MODELS


@MODELS.register_module()
class SILogLoss(nn.Module):
    """Scale-invariant log loss over the valid pixels of each sample.

    For one sample (a clip ``[T, H, W]``, or any shape after the batch
    dimension) with ``n`` valid pixels ``i`` and ``g_i = log d_i - log d*_i``
    (predicted ``d``, ground truth ``d*``)::

        L = sqrt( (1/n) sum_i g_i^2  -  lambda * ((1/n) sum_i g_i)^2 )

    Eigen et al. (2014) define the term under the root, with ``lambda`` from 0
    (plain log MSE) to 1 (fully scale invariant: a global factor on ``d`` does
    not change the loss); the square root and ``lambda = 0.85`` ("variance
    focus") are the form of BTS (Lee et al., 2019) and later depth models,
    which keep 15 % of the squared mean error so that metric scale is still
    learnt. The term under the root is at least ``(1 - lambda) mean(g)^2 >= 0``
    and is clamped to ``eps`` before the root, which keeps the gradient finite
    at a perfect prediction. The result is ``loss_weight`` times the mean of
    ``L`` over the samples of the batch that have at least one valid pixel;
    samples without any have no defined loss and get weight 0 (a batch without
    any valid pixel gives a loss of 0, still connected to the graph). The
    whole computation is done in float32 (float64 stays float64).

    Scale invariance is per sample: with clips as samples, one scale is shared
    by all frames of a clip, which keeps the predicted depth of a video
    consistent over time.

    Args:
        variance_focus (float): ``lambda`` in ``[0, 1]``. Defaults to 0.85.
        loss_weight (float): Factor on the loss. Defaults to 1 (BTS uses 10).
        eps (float): Floor of the term under the root. Defaults to 1e-8.
    """

    def __init__(self,
                 variance_focus: float = 0.85,
                 loss_weight: float = 1.0,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if not 0 <= variance_focus <= 1:
            raise ValueError(f'variance_focus must be in [0, 1], got '
                             f'{variance_focus}')
        self.variance_focus = variance_focus
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred_log_depth: Tensor, target: Tensor,
                valid: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            pred_log_depth (Tensor): Predicted **natural log** of the depth,
                ``[B, ...]`` (e.g. ``[B, T, H, W]``).
            target (Tensor): Ground-truth depth in metres, same shape; only
                read where ``valid``.
            valid (Tensor): Bool mask of the supervised pixels, same shape;
                ``target`` must be > 0 there.

        Returns:
            Tensor: Scalar loss.
        """
        if not (pred_log_depth.shape == target.shape == valid.shape) or \
                pred_log_depth.dim() < 2:
            raise ValueError(
                f'pred_log_depth {tuple(pred_log_depth.shape)}, target '
                f'{tuple(target.shape)} and valid {tuple(valid.shape)} must '
                'have one shape [B, ...]')
        if valid.dtype != torch.bool:
            raise TypeError(f'valid must be a bool mask, got {valid.dtype}')
        dtype = torch.float64 if torch.float64 in (pred_log_depth.dtype,
                                                   target.dtype) \
            else torch.float32
        mask = valid.flatten(1).to(dtype)  # [B, P]
        safe_target = torch.where(valid, target.to(dtype),
                                  torch.ones_like(target, dtype=dtype))
        g = (pred_log_depth.to(dtype) - torch.log(safe_target)).flatten(1)
        g = g * mask  # [B, P], 0 at invalid pixels
        count = mask.sum(dim=1)  # [B]
        n = count.clamp(min=1)
        mean_g = g.sum(dim=1) / n  # [B]
        mean_g2 = (g * g).sum(dim=1) / n  # [B]
        per_sample = (mean_g2 - self.variance_focus * mean_g**2).clamp(
            min=self.eps).sqrt()  # [B]
        weight = (count > 0).to(dtype)  # [B]
        loss = (per_sample * weight).sum() / weight.sum().clamp(min=1)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'variance_focus={self.variance_focus}, '
                f'loss_weight={self.loss_weight}, eps={self.eps}')
