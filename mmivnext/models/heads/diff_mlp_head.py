"""The Stage-1 diffusion decoder: a per-patch conditional diffusion model.

As in MAR (Li et al., 2024, "Autoregressive Image Generation without Vector
Quantization") and paper section 3.2, each masked patch is modelled on its own:
a small MLP denoiser with AdaLN, conditioned on the predictor's vector ``z`` of
that patch, learns ``p(pixels | z)`` with the improved-DDPM diffusion and loss
(cosine schedule, 1000 steps, eps prediction, learned variance, ``mse + vb``).
"""
import math
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from .. import losses as _losses  # noqa: F401  (registers the heads' losses)
from ..utils import build_norm, xavier_linear_


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """AdaLN modulation ``x * (1 + scale) + shift``."""
    return x * (1 + scale) + shift


def _layer_norm(dims: int, affine: bool) -> nn.Module:
    """LayerNorm with eps 1e-6, with or without elementwise affine
    parameters."""
    return build_norm(dict(type='LN', eps=1e-6, elementwise_affine=affine),
                      dims)


class TimestepEmbedder(nn.Module):
    """Sinusoidal embedding of the diffusion step, then an MLP.

    ``[cos(t f_k), sin(t f_k)]`` with ``f_k = max_period ** (-k / (F / 2))``,
    ``k < F / 2``, then ``Linear(F, C) -> SiLU -> Linear(C, C)``.

    Args:
        embed_dims (int): Output width ``C``.
        frequency_dims (int): Sinusoid width ``F`` (even). Defaults to 256.
        max_period (float): Longest period. Defaults to 10000.
    """

    def __init__(self,
                 embed_dims: int,
                 frequency_dims: int = 256,
                 max_period: float = 10000.) -> None:
        super().__init__()
        if frequency_dims % 2:
            raise ValueError(f'frequency_dims must be even, got '
                             f'{frequency_dims}.')
        self.frequency_dims = frequency_dims
        self.max_period = max_period
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dims, embed_dims), nn.SiLU(),
            nn.Linear(embed_dims, embed_dims))

    def sinusoids(self, t: Tensor) -> Tensor:
        """``[N]`` steps -> ``[N, F]`` float32 sinusoids."""
        half = self.frequency_dims // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(
            half, dtype=torch.float32, device=t.device) / half)  # [F / 2]
        args = t.float()[:, None] * freqs[None]  # [N, F / 2]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t: Tensor) -> Tensor:
        """``[N]`` steps -> ``[N, C]``."""
        return self.mlp(self.sinusoids(t))


class AdaLNResBlock(nn.Module):
    """Residual MLP block with AdaLN-Zero conditioning.

    ``x + gate * mlp(modulate(norm(x), shift, scale))`` with
    ``(shift, scale, gate) = adaLN_modulation(y)`` and
    ``mlp = Linear -> SiLU -> Linear``. ``norm`` is a LayerNorm *with*
    elementwise affine parameters (weight 1, bias 0 at init), as MAR's and the
    authors' ``ResBlock.in_ln`` (InternVideo-Next ``models/diffloss.py``);
    only the final layer's norm is non-affine.

    Args:
        embed_dims (int): Width ``C`` of ``x`` and of the condition ``y``.
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.norm = _layer_norm(embed_dims, affine=True)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.SiLU(),
            nn.Linear(embed_dims, embed_dims))
        self.adaLN_modulation = nn.Sequential(
            nn.SiLU(), nn.Linear(embed_dims, 3 * embed_dims))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``x [N, C]``, condition ``y [N, C]`` -> ``[N, C]``."""
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, dim=-1)
        h = self.mlp(modulate(self.norm(x), shift, scale))  # [N, C]
        return x + gate * h


class AdaLNFinalLayer(nn.Module):
    """``Linear(modulate(norm(x), shift, scale))`` with
    ``(shift, scale) = adaLN_modulation(y)``; ``norm`` has no affine
    parameters (AdaLN supplies them), as DiT's / MAR's ``norm_final``.

    Args:
        embed_dims (int): Width ``C``.
        out_dims (int): Output width.
    """

    def __init__(self, embed_dims: int, out_dims: int) -> None:
        super().__init__()
        self.norm = _layer_norm(embed_dims, affine=False)
        self.adaLN_modulation = nn.Sequential(
            nn.SiLU(), nn.Linear(embed_dims, 2 * embed_dims))
        self.linear = nn.Linear(embed_dims, out_dims)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``x [N, C]``, condition ``y [N, C]`` -> ``[N, out_dims]``."""
        shift, scale = self.adaLN_modulation(y).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


@MODELS.register_module()
class DiffMLPHead(BaseModule):
    """Conditional diffusion decoder from predictor vectors to patch pixels
    (module docstring).

    The denoiser maps ``(x_t, t, z)`` to ``(eps, v)``::

        x = input_proj(x_t)                          # [N, width]
        y = time_embed(t) + cond_embed(z)            # [N, width]
        x = block_i(x, y), i < depth                 # AdaLN residual MLPs
        out = final_layer(x, y)                      # [N, 2 * target_dims]

    The diffusion and its loss (:class:`~mmivnext.models.losses.DiffusionLoss`)
    are built from ``loss``; :meth:`sample` runs a respaced reverse process.

    Targets are rows of one patch's pixel values, in any order (the
    algorithm's is channel-major ``(C, ph, pw)``). The ``t = 0`` term of the
    loss (discretised decoder NLL) assumes data on the scale of [-1, 1], as
    improved DDPM / MAR do.

    The default init is MAR's (``_default_init``): with zero AdaLN
    modulation and output layers, the initial output is exactly 0.

    Args:
        target_dims (int): ``D``, values per target. Defaults to 588.
        cond_dims (int): ``C``, width of ``z`` (the predictor's). Defaults to
            1024.
        width (int): Denoiser width. Defaults to 1536 (paper's best; 1024 and
            2048 in its ablation).
        depth (int): Residual blocks. Defaults to 6 (3 and 9 in the
            ablation).
        num_sampling_steps (int): Default reverse steps of :meth:`sample` /
            :meth:`predict`. Defaults to 100.
        temperature (float): Default sampling temperature. Defaults to 1.
        clip_denoised (float, optional): When sampling, clamp each step's
            predicted clean target to ``[-clip_denoised, clip_denoised]``
            (improved DDPM's ``clip_denoised``, for data of known range).
            Defaults to None (no clamp, as MAR).
        loss (dict): Config of the diffusion loss. Defaults to
            ``dict(type='DiffusionLoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self,
                 target_dims: int = 588,
                 cond_dims: int = 1024,
                 width: int = 1536,
                 depth: int = 6,
                 num_sampling_steps: int = 100,
                 temperature: float = 1.0,
                 clip_denoised: Optional[float] = None,
                 loss: dict = dict(type='DiffusionLoss'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if min(target_dims, cond_dims, width) < 1 or depth < 0:
            raise ValueError(f'Need positive target_dims, cond_dims, width '
                             f'and depth >= 0; got {target_dims}, '
                             f'{cond_dims}, {width}, {depth}.')
        self.target_dims = target_dims
        self.cond_dims = cond_dims
        self.width = width
        self.depth = depth
        self.num_sampling_steps = num_sampling_steps
        self.temperature = temperature
        self.clip_denoised = clip_denoised

        self.input_proj = nn.Linear(target_dims, width)
        self.time_embed = TimestepEmbedder(width)
        self.cond_embed = nn.Linear(cond_dims, width)
        self.blocks = nn.ModuleList(AdaLNResBlock(width) for _ in range(depth))
        self.final_layer = AdaLNFinalLayer(width, 2 * target_dims)
        self.loss_module = MODELS.build(loss)
        if not hasattr(self.loss_module, 'diffusion'):
            raise TypeError(f'DiffMLPHead needs a diffusion loss (with a '
                            f'`diffusion` attribute), got '
                            f'{type(self.loss_module).__name__}.')
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        xavier_linear_(self)
        for m in self.time_embed.mlp:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        for blk in self.blocks:
            nn.init.ones_(blk.norm.weight)
            nn.init.zeros_(blk.norm.bias)
        zero = [blk.adaLN_modulation[-1] for blk in self.blocks]
        zero += [self.final_layer.adaLN_modulation[-1],
                 self.final_layer.linear]
        for m in zero:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def _check_z(self, z: Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.cond_dims:
            raise ValueError(f'z must be [M, cond_dims={self.cond_dims}], got '
                             f'{tuple(z.shape)}.')

    def forward(self, x_t: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """Run the denoiser.

        Args:
            x_t (Tensor): ``[N, target_dims]`` noisy targets.
            t (Tensor): ``[N]`` diffusion steps (indices of the 1000-step
                training schedule).
            z (Tensor): ``[N, cond_dims]`` conditions.

        Returns:
            Tensor: ``[N, 2 * target_dims]``: the noise estimate ``eps`` then
            the variance interpolation ``v``.
        """
        self._check_z(z)
        if x_t.shape != (z.shape[0], self.target_dims):
            raise ValueError(f'x_t must be [N={z.shape[0]}, target_dims='
                             f'{self.target_dims}], got {tuple(x_t.shape)}.')
        x = self.input_proj(x_t)  # [N, width]
        y = self.time_embed(t) + self.cond_embed(z)  # [N, width]
        for block in self.blocks:
            x = block(x, y)
        return self.final_layer(x, y)  # [N, 2 * target_dims]

    def loss(self,
             z: Tensor,
             target: Tensor,
             weights: Optional[Tensor] = None) -> Tensor:
        """Diffusion loss of the targets given their conditions.

        Args:
            z (Tensor): ``[M, cond_dims]`` predictor outputs of the masked
                tokens.
            target (Tensor): ``[M, target_dims]`` their patches' pixels.
            weights (Tensor, optional): ``[M]`` token weights (e.g. a 0/1
                validity mask); plain mean over tokens if None.

        Returns:
            Tensor: The float32 scalar loss.
        """
        self._check_z(z)
        if target.dim() != 2 or target.shape[1] != self.target_dims:
            raise ValueError(f'target must be [M, target_dims='
                             f'{self.target_dims}], got '
                             f'{tuple(target.shape)}.')
        return self.loss_module(self, z, target, weights)

    @torch.no_grad()
    def predict(self,
                z: Tensor,
                num_steps: Optional[int] = None,
                temperature: Optional[float] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """Sample targets for conditions with a respaced reverse process.

        Args:
            z (Tensor): ``[M, cond_dims]``.
            num_steps (int, optional): Reverse steps, evenly spaced over the
                training schedule (first and last kept). Defaults to
                ``num_sampling_steps``.
            temperature (float, optional): Scale of all the sampling noise
                (``x_T`` and every step's); 0 gives the deterministic mean
                path. Defaults to ``temperature``.
            generator (torch.Generator, optional): Noise source, on z's
                device.

        Returns:
            Tensor: ``[M, target_dims]`` float32.
        """
        self._check_z(z)
        num_steps = self.num_sampling_steps if num_steps is None \
            else num_steps
        temperature = self.temperature if temperature is None \
            else temperature
        diffusion = self.loss_module.diffusion.respace(num_steps)
        return diffusion.p_sample_loop(
            lambda x_t, t: self(x_t, t, z), (z.shape[0], self.target_dims),
            device=z.device, temperature=temperature,
            clip_denoised=self.clip_denoised, generator=generator)
