"""Per-token diffusion loss of a conditional denoiser (MAR-style)."""
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils.diffusion import GaussianDiffusion
from .token_loss_utils import check_token_inputs, weighted_token_mean

#: ``denoiser(x_t [N, D], t [N] int64, z [N, C]) -> [N, 2 * D]`` (eps, v).
Denoiser = Callable[[Tensor, Tensor, Tensor], Tensor]


@MODELS.register_module()
class DiffusionLoss(nn.Module):
    """Improved-DDPM hybrid loss of a denoiser conditioned on one vector per
    token, each token diffused independently.

    Each ``(z, target)`` pair is repeated ``diffusion_batch_mul`` times, each
    copy with its own step ``t ~ U{0, T - 1}`` and noise; the per-copy loss is
    :meth:`GaussianDiffusion.training_losses` (``mse(eps) + vb``), and the
    result is its (weighted) mean over the copies, times ``loss_weight``.

    The diffusion math runs in float32 whatever the denoiser's dtype (bf16
    under autocast): :class:`GaussianDiffusion` computes low-precision
    targets in float32 and casts the denoiser's output to it.

    Args:
        num_timesteps (int): Training steps ``T``. Defaults to 1000.
        noise_schedule (str): ``'cosine'`` or ``'linear'``. Defaults to
            ``'cosine'``.
        diffusion_batch_mul (int): Copies of each token per loss (MAR's
            ``diffusion_batch_mul``). Defaults to 4.
        loss_weight (float): Factor on the loss. Defaults to 1.

    Attributes:
        diffusion (GaussianDiffusion): The training diffusion; samplers respace
            it (:meth:`GaussianDiffusion.respace`).
    """

    def __init__(self,
                 num_timesteps: int = 1000,
                 noise_schedule: str = 'cosine',
                 diffusion_batch_mul: int = 4,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if diffusion_batch_mul < 1:
            raise ValueError(f'diffusion_batch_mul must be >= 1, got '
                             f'{diffusion_batch_mul}.')
        self.num_timesteps = num_timesteps
        self.noise_schedule = noise_schedule
        self.diffusion_batch_mul = diffusion_batch_mul
        self.loss_weight = loss_weight
        self.diffusion = GaussianDiffusion.from_schedule(
            noise_schedule, num_timesteps)

    def forward(self,
                denoiser: Denoiser,
                z: Tensor,
                target: Tensor,
                weights: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            denoiser (Callable): ``denoiser(x_t [N, D], t [N], z [N, C]) ->
                [N, 2 * D]`` with ``N = M * diffusion_batch_mul``; ``t`` are
                original step indices (int64).
            z (Tensor): ``[M, C]`` conditions.
            target (Tensor): ``[M, D]`` clean data (e.g. patch pixels).
            weights (Tensor, optional): ``[M]`` token weights; the loss is
                ``sum(w * l) / sum(w)`` (0 if all weights are 0). Defaults to
                the plain mean. With ``M = 0`` the loss is 0.

        Returns:
            Tensor: Scalar float32 loss (float64 for float64 targets).
        """
        check_token_inputs(z, target, weights)
        mul = self.diffusion_batch_mul
        target = target.repeat(mul, 1)  # [M * mul, D]
        z = z.repeat(mul, 1)  # [M * mul, C]
        if weights is not None:
            weights = weights.repeat(mul)  # [M * mul]
        t = torch.randint(0, self.num_timesteps, (target.shape[0], ),
                          device=target.device)
        losses = self.diffusion.training_losses(
            lambda x_t, model_t: denoiser(x_t, model_t, z), target,
            t)['loss']  # [M * mul]
        return self.loss_weight * weighted_token_mean(losses, weights)

    def extra_repr(self) -> str:
        return (f'num_timesteps={self.num_timesteps}, noise_schedule='
                f'{self.noise_schedule!r}, diffusion_batch_mul='
                f'{self.diffusion_batch_mul}, loss_weight={self.loss_weight}')
