"""Gaussian diffusion of improved DDPM (Nichol & Dhariwal, 2021), for vectors.

The math behind :class:`~mmivnext.models.heads.DiffMLPHead`: a discrete-time
diffusion over ``[N, D]`` tensors (one row per sample, e.g. one masked patch)
with

* a named noise schedule (``'cosine'``, the paper's, or ``'linear'``);
* an ``epsilon``-predicting model with a **learned variance** in the
  ``learned_range`` form: the model returns ``[N, 2 * D]``, the noise estimate
  ``eps`` and ``v``, and the reverse-step log variance is
  ``(v + 1) / 2 * log(beta_t) + (1 - v) / 2 * log(beta~_t)``, ``beta~_t`` being
  the posterior variance (``v`` is used as is, not clamped);
* the hybrid loss ``mse(eps) + vb`` (:meth:`GaussianDiffusion.training_losses`,
  :meth:`GaussianDiffusion.vb_terms_bpd`);
* respacing (:meth:`GaussianDiffusion.respace`): a shorter reverse process
  over a subset of the steps;
* ancestral sampling with a temperature on every noise draw.

Schedule constants are kept in float64 on the CPU and gathered per step into
the dtype of the data (float32, or float64 for float64 data); inputs of
another dtype (bf16/fp16 under autocast) are computed in float32. No operation
here is one that autocast lowers, so the math stays float32 under autocast.
"""
import math
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor

#: ``model_fn(x_t [N, D], t [N] (int64, original step indices)) -> [N, 2 * D]``
ModelFn = Callable[[Tensor, Tensor], Tensor]


def cosine_alpha_bar(s: float) -> float:
    """The cosine schedule's ``alpha_bar`` at normalised time ``s`` in [0, 1].

    ``cos((s + 0.008) / 1.008 * pi / 2) ** 2`` (Nichol & Dhariwal, eq. 17).
    """
    return math.cos((s + 0.008) / 1.008 * math.pi / 2)**2


def get_named_beta_schedule(name: str,
                            num_timesteps: int,
                            max_beta: float = 0.999) -> Tensor:
    """Betas of a named schedule.

    Args:
        name (str): ``'cosine'``: ``beta_i = min(1 - abar((i + 1) / T) /
            abar(i / T), max_beta)`` with :func:`cosine_alpha_bar`;
            ``'linear'``: DDPM's, from ``1e-4`` to ``0.02`` for ``T = 1000``
            (scaled by ``1000 / T`` otherwise).
        num_timesteps (int): ``T``, at least 2.
        max_beta (float): Upper clip of the cosine betas. Defaults to 0.999.

    Returns:
        Tensor: ``[T]`` float64 betas.
    """
    if num_timesteps < 2:
        raise ValueError(f'num_timesteps must be at least 2, got '
                         f'{num_timesteps}.')
    if name == 'cosine':
        return torch.tensor([
            min(1 - cosine_alpha_bar((i + 1) / num_timesteps) /
                cosine_alpha_bar(i / num_timesteps), max_beta)
            for i in range(num_timesteps)
        ], dtype=torch.float64)
    if name == 'linear':
        scale = 1000 / num_timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps,
                              dtype=torch.float64)
    raise ValueError(f'Unknown noise schedule {name!r}; use "cosine" or '
                     f'"linear".')


def space_timesteps(num_timesteps: int, num_steps: int) -> List[int]:
    """Evenly spaced step indices, first and last included.

    Index ``i`` of ``num_steps`` is ``i * (T - 1) / (num_steps - 1)`` rounded
    half up (exactly, in integers); ``num_steps = 1`` keeps step 0 only.

    Args:
        num_timesteps (int): ``T``, the steps to choose from.
        num_steps (int): How many to keep, in ``[1, T]``.

    Returns:
        list[int]: ``num_steps`` increasing indices in ``[0, T)``.
    """
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f'num_steps must be in [1, {num_timesteps}], got '
                         f'{num_steps}.')
    if num_steps == 1:
        return [0]
    den = num_steps - 1
    return [(2 * i * (num_timesteps - 1) + den) // (2 * den)
            for i in range(num_steps)]


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor,
              logvar2: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2)))``
    in nats (broadcasting)."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) +
                  (mean1 - mean2)**2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """Standard normal CDF, tanh approximation (as in improved DDPM)."""
    return 0.5 * (1.0 + torch.tanh(
        math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x: Tensor, means: Tensor,
                                        log_scales: Tensor) -> Tensor:
    """Elementwise log-likelihood of data discretised to 256 bins of [-1, 1].

    The probability of ``x`` is the Gaussian's mass on the bin
    ``[x - 1/255, x + 1/255]``; the outer bins (``x < -0.999`` /
    ``x > 0.999``) extend to -inf / +inf. Data outside [-1, 1] fall in the
    outer bins. Probabilities are floored at 1e-12.

    Args:
        x (Tensor): Data, any shape.
        means (Tensor): Gaussian means, broadcastable to ``x``.
        log_scales (Tensor): Log standard deviations, broadcastable to ``x``.

    Returns:
        Tensor: Log-probabilities (nats), shaped like ``x``.
    """
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(
        x < -0.999, log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta))


class PosteriorOrPrior(NamedTuple):
    """A Gaussian over ``x`` given ``x_t``: ``mean``, ``variance`` and
    ``log_variance`` ``[N, D]`` (the variances broadcast against the mean:
    ``[N, 1]`` for the posterior, ``[N, D]`` for the model), plus the model's
    ``pred_xstart`` ``[N, D]`` (None for the true posterior)."""
    mean: Tensor
    variance: Tensor
    log_variance: Tensor
    pred_xstart: Optional[Tensor] = None


_SCHEDULE_KEYS = (
    'betas', 'log_betas', 'alphas_cumprod', 'alphas_cumprod_prev',
    'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
    'log_one_minus_alphas_cumprod', 'sqrt_recip_alphas_cumprod',
    'sqrt_recipm1_alphas_cumprod', 'posterior_variance',
    'posterior_log_variance_clipped', 'posterior_mean_coef1',
    'posterior_mean_coef2')


class GaussianDiffusion:
    """Discrete Gaussian diffusion with an eps-predicting, learned-variance
    model (see the module docstring).

    A plain object, not a module: its constants are float64 CPU tensors,
    copied once per device on first use, and never in a state dict.

    Args:
        betas (Tensor | Sequence[float]): ``[T]`` betas in ``(0, 1]``,
            ``T >= 2``.
        timestep_map (Tensor | Sequence[int], optional): ``[T]`` original step
            index fed to the model for each step (respaced diffusions).
            Defaults to ``0 .. T - 1``.

    Attributes:
        num_timesteps (int): ``T``.
        timestep_map (Tensor): ``[T]`` int64.
        betas, alphas_cumprod, posterior_variance, ... (Tensor): ``[T]``
            float64 schedule constants (names as in improved DDPM).
    """

    def __init__(self,
                 betas: Union[Tensor, Sequence[float]],
                 timestep_map: Optional[Union[Tensor, Sequence[int]]] = None
                 ) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.dim() != 1 or betas.numel() < 2:
            raise ValueError(f'betas must be 1-D with at least 2 steps, got '
                             f'shape {tuple(betas.shape)}.')
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError('betas must lie in (0, 1].')
        self.num_timesteps = T = betas.numel()
        if timestep_map is None:
            timestep_map = torch.arange(T)
        self.timestep_map = torch.as_tensor(timestep_map,
                                            dtype=torch.int64).cpu()
        if self.timestep_map.shape != (T, ):
            raise ValueError(f'timestep_map must have shape ({T},), got '
                             f'{tuple(self.timestep_map.shape)}.')

        alphas = 1.0 - betas
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat([ac.new_ones(1), ac[:-1]])
        self.betas = betas
        self.log_betas = torch.log(betas)
        self.alphas_cumprod = ac
        self.alphas_cumprod_prev = ac_prev
        self.sqrt_alphas_cumprod = ac.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - ac).sqrt()
        self.log_one_minus_alphas_cumprod = torch.log(1.0 - ac)
        self.sqrt_recip_alphas_cumprod = (1.0 / ac).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / ac - 1.0).sqrt()
        # Variance of q(x_{t-1} | x_t, x_0); zero at t = 0, so its log is
        # clipped by repeating the value of t = 1.
        self.posterior_variance = betas * (1.0 - ac_prev) / (1.0 - ac)
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2],
                       self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * ac_prev.sqrt() / (1.0 - ac)
        self.posterior_mean_coef2 = (1.0 - ac_prev) * alphas.sqrt() / (1.0 -
                                                                       ac)
        self._per_device: Dict[torch.device, Dict[str, Tensor]] = {}

    @classmethod
    def from_schedule(cls, noise_schedule: str = 'cosine',
                      num_timesteps: int = 1000) -> 'GaussianDiffusion':
        """Build from :func:`get_named_beta_schedule`'s ``(name, T)``."""
        return cls(get_named_beta_schedule(noise_schedule, num_timesteps))

    def respace(self, num_steps: int) -> 'GaussianDiffusion':
        """A diffusion over ``num_steps`` evenly spaced steps of this one.

        Keeps the steps of :func:`space_timesteps` ``S``; their cumulative
        alphas are unchanged and the betas become
        ``1 - alphas_cumprod[S[k]] / alphas_cumprod[S[k - 1]]``. The model
        keeps receiving the original indices (``timestep_map``).

        Args:
            num_steps (int): Steps to keep, in ``[2, T]``.

        Returns:
            GaussianDiffusion: The respaced diffusion.
        """
        if num_steps < 2:
            raise ValueError(f'A respaced diffusion needs at least 2 steps, '
                             f'got {num_steps}.')
        keep = torch.tensor(space_timesteps(self.num_timesteps, num_steps))
        ac = self.alphas_cumprod[keep]
        betas = 1.0 - ac / torch.cat([ac.new_ones(1), ac[:-1]])
        return GaussianDiffusion(betas, self.timestep_map[keep])

    # ----------------------------------------------------------------- helpers
    def _gather(self, name: str, t: Tensor, x: Tensor) -> Tensor:
        """Constant ``name`` at steps ``t [N]`` as ``[N, 1]`` in x's dtype."""
        table = self._per_device.get(t.device)
        if table is None:
            table = {k: getattr(self, k).to(t.device) for k in _SCHEDULE_KEYS}
            table['timestep_map'] = self.timestep_map.to(t.device)
            self._per_device[t.device] = table
        return table[name][t].to(x.dtype).unsqueeze(-1)

    def _check(self, x: Tensor, t: Tensor, name: str = 'x') -> Tensor:
        """Validate ``x [N, D]`` / ``t [N]``; return x in float32/float64."""
        if x.dim() != 2:
            raise ValueError(f'{name} must be [N, D], got shape '
                             f'{tuple(x.shape)}.')
        if t.shape != (x.shape[0], ) or t.dtype not in (torch.int64,
                                                        torch.int32):
            raise ValueError(f't must be an integer tensor of shape '
                             f'({x.shape[0]},), got {t.dtype} '
                             f'{tuple(t.shape)}.')
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        return x

    def model_timesteps(self, t: Tensor) -> Tensor:
        """The original step indices ``[N]`` to feed the model for ``t``."""
        return self.timestep_map.to(t.device)[t]

    # ------------------------------------------------------- forward process
    def q_mean_variance(self, x_start: Tensor,
                        t: Tensor) -> PosteriorOrPrior:
        """``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``.

        Args:
            x_start (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices.

        Returns:
            PosteriorOrPrior: mean ``[N, D]``, variance / log variance
            ``[N, 1]``.
        """
        x_start = self._check(x_start, t, 'x_start')
        return PosteriorOrPrior(
            self._gather('sqrt_alphas_cumprod', t, x_start) * x_start,
            1.0 - self._gather('alphas_cumprod', t, x_start),
            self._gather('log_one_minus_alphas_cumprod', t, x_start))

    def q_sample(self, x_start: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Draw ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``.

        Args:
            x_start (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices.
            noise (Tensor): ``[N, D]`` standard normal noise.

        Returns:
            Tensor: ``[N, D]``.
        """
        x_start = self._check(x_start, t, 'x_start')
        if noise.shape != x_start.shape:
            raise ValueError(f'noise shape {tuple(noise.shape)} differs from '
                             f'x_start shape {tuple(x_start.shape)}.')
        return (self._gather('sqrt_alphas_cumprod', t, x_start) * x_start +
                self._gather('sqrt_one_minus_alphas_cumprod', t, x_start) *
                noise.to(x_start.dtype))

    def q_posterior_mean_variance(self, x_start: Tensor, x_t: Tensor,
                                  t: Tensor) -> PosteriorOrPrior:
        """The true posterior ``q(x_{t-1} | x_t, x_0)``.

        Args:
            x_start (Tensor): ``[N, D]``.
            x_t (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices.

        Returns:
            PosteriorOrPrior: mean ``[N, D]``, variance and clipped log
            variance ``[N, 1]``.
        """
        x_start = self._check(x_start, t, 'x_start')
        x_t = x_t.to(x_start.dtype)
        mean = (self._gather('posterior_mean_coef1', t, x_start) * x_start +
                self._gather('posterior_mean_coef2', t, x_start) * x_t)
        return PosteriorOrPrior(
            mean, self._gather('posterior_variance', t, x_start),
            self._gather('posterior_log_variance_clipped', t, x_start))

    # ------------------------------------------------------- reverse process
    def predict_xstart_from_eps(self, x_t: Tensor, t: Tensor,
                                eps: Tensor) -> Tensor:
        """``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, ``[N, D]``."""
        x_t = self._check(x_t, t, 'x_t')
        return (self._gather('sqrt_recip_alphas_cumprod', t, x_t) * x_t -
                self._gather('sqrt_recipm1_alphas_cumprod', t, x_t) *
                eps.to(x_t.dtype))

    def p_mean_variance(self,
                        model_output: Tensor,
                        x_t: Tensor,
                        t: Tensor,
                        clip_denoised: Optional[float] = None
                        ) -> PosteriorOrPrior:
        """The model's reverse step ``p(x_{t-1} | x_t)``.

        Args:
            model_output (Tensor): ``[N, 2 * D]``: ``eps`` then ``v``.
            x_t (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices (of this diffusion).
            clip_denoised (float, optional): Clamp the predicted ``x_0`` to
                ``[-clip_denoised, clip_denoised]`` before forming the mean.
                Defaults to None (no clamp).

        Returns:
            PosteriorOrPrior: mean, variance, log variance and pred_xstart,
            all ``[N, D]``.
        """
        x_t = self._check(x_t, t, 'x_t')
        N, D = x_t.shape
        if model_output.shape != (N, 2 * D):
            raise ValueError(f'model_output must be [N, 2 * D] = [{N}, '
                             f'{2 * D}] (eps and v), got '
                             f'{tuple(model_output.shape)}.')
        eps, v = model_output.to(x_t.dtype).split(D, dim=-1)
        min_log = self._gather('posterior_log_variance_clipped', t, x_t)
        max_log = self._gather('log_betas', t, x_t)
        frac = (v + 1.0) / 2.0
        log_variance = frac * max_log + (1.0 - frac) * min_log
        pred_xstart = self.predict_xstart_from_eps(x_t, t, eps)
        if clip_denoised is not None:
            pred_xstart = pred_xstart.clamp(-clip_denoised, clip_denoised)
        mean = self.q_posterior_mean_variance(pred_xstart, x_t, t).mean
        return PosteriorOrPrior(mean, torch.exp(log_variance), log_variance,
                                pred_xstart)

    # ----------------------------------------------------------------- losses
    def vb_terms_bpd(self, model_output: Tensor, x_start: Tensor,
                     x_t: Tensor, t: Tensor) -> Tensor:
        """Variational-bound term of step ``t`` per sample, in bits per dim.

        ``KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))`` for ``t > 0`` and
        the decoder NLL ``-log p(x_0 | x_1)``
        (:func:`discretized_gaussian_log_likelihood`) for ``t = 0``, both
        averaged over the ``D`` dimensions and divided by ``log 2``.

        Args:
            model_output (Tensor): ``[N, 2 * D]``.
            x_start (Tensor): ``[N, D]``.
            x_t (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices.

        Returns:
            Tensor: ``[N]``.
        """
        true = self.q_posterior_mean_variance(x_start, x_t, t)
        model = self.p_mean_variance(model_output, x_t, t)
        kl = normal_kl(true.mean, true.log_variance, model.mean,
                       model.log_variance).mean(dim=-1) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(
            x_start.to(model.mean.dtype), model.mean,
            0.5 * model.log_variance).mean(dim=-1) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(self,
                        model_fn: ModelFn,
                        x_start: Tensor,
                        t: Tensor,
                        noise: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Hybrid loss ``mse + vb`` per sample.

        ``mse`` is the mean squared error of the noise estimate over the
        ``D`` dimensions; ``vb`` is :meth:`vb_terms_bpd` evaluated with
        ``eps`` detached, so it trains only ``v``.

        Args:
            model_fn (Callable): ``model_fn(x_t [N, D], t [N]) -> [N, 2 * D]``,
                called with the original step indices (``timestep_map``).
            x_start (Tensor): ``[N, D]`` data.
            t (Tensor): ``[N]`` step indices.
            noise (Tensor, optional): ``[N, D]``; standard normal if None.

        Returns:
            dict[str, Tensor]: ``loss``, ``mse``, ``vb``, each ``[N]``.
        """
        x_start = self._check(x_start, t, 'x_start')
        if noise is None:
            noise = torch.randn_like(x_start)
        x_t = self.q_sample(x_start, t, noise)
        out = model_fn(x_t, self.model_timesteps(t))
        D = x_start.shape[1]
        if out.shape != (x_start.shape[0], 2 * D):
            raise ValueError(f'The model must return [N, 2 * D] = '
                             f'[{x_start.shape[0]}, {2 * D}], got '
                             f'{tuple(out.shape)}.')
        out = out.to(x_start.dtype)
        eps, v = out.split(D, dim=-1)
        frozen = torch.cat([eps.detach(), v], dim=-1)
        vb = self.vb_terms_bpd(frozen, x_start, x_t, t)
        mse = ((noise.to(x_start.dtype) - eps)**2).mean(dim=-1)
        return dict(loss=mse + vb, mse=mse, vb=vb)

    # --------------------------------------------------------------- sampling
    def p_sample(self,
                 model_fn: ModelFn,
                 x_t: Tensor,
                 t: Tensor,
                 noise: Tensor,
                 temperature: float = 1.0,
                 clip_denoised: Optional[float] = None) -> Tensor:
        """One ancestral step ``x_{t-1} = mean + [t > 0] T sigma noise``.

        Args:
            model_fn (Callable): As in :meth:`training_losses`.
            x_t (Tensor): ``[N, D]``.
            t (Tensor): ``[N]`` step indices (of this diffusion).
            noise (Tensor): ``[N, D]`` standard normal noise.
            temperature (float): ``T``, scale of the noise std. Defaults to 1.
            clip_denoised (float, optional): See :meth:`p_mean_variance`.

        Returns:
            Tensor: ``[N, D]`` sample of ``x_{t-1}``.
        """
        out = self.p_mean_variance(model_fn(x_t, self.model_timesteps(t)),
                                   x_t, t, clip_denoised)
        nonzero = (t != 0).to(out.mean.dtype).unsqueeze(-1)  # [N, 1]
        return out.mean + nonzero * torch.exp(0.5 * out.log_variance) * \
            noise.to(out.mean.dtype) * temperature

    def p_sample_loop(self,
                      model_fn: ModelFn,
                      shape: Sequence[int],
                      device: Union[str, torch.device, None] = None,
                      temperature: float = 1.0,
                      clip_denoised: Optional[float] = None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
        """Sample by running every step of the reverse process.

        ``x_T`` is ``temperature`` times standard normal noise and every step
        scales its noise std by ``temperature`` too, so ``temperature = 0``
        runs the deterministic mean path from ``x_T = 0``. (MAR scales the
        steps' noise only; at ``temperature = 1`` both agree.)

        The first step of a cosine schedule has ``beta ~ 1``: its mean is
        ``(x_T - eps) / sqrt(1 - beta)``, which multiplies the model's noise
        error by several hundred; only an accurately trained model, or
        ``clip_denoised``, keeps the samples in range.

        Args:
            model_fn (Callable): As in :meth:`training_losses`.
            shape (Sequence[int]): ``(N, D)``.
            device (str | torch.device, optional): Where to sample.
            temperature (float): Noise scale, >= 0. Defaults to 1.
            clip_denoised (float, optional): See :meth:`p_mean_variance`.
            generator (torch.Generator, optional): Source of all the noise
                (on ``device``).

        Returns:
            Tensor: ``[N, D]`` float32 samples of ``x_0``.
        """
        if temperature < 0:
            raise ValueError(f'temperature must be >= 0, got {temperature}.')
        shape = tuple(shape)
        x = torch.randn(shape, device=device, generator=generator) * \
            temperature
        for i in reversed(range(self.num_timesteps)):
            t = torch.full((shape[0], ), i, dtype=torch.int64,
                           device=x.device)
            noise = torch.randn(shape, device=x.device, generator=generator)
            x = self.p_sample(model_fn, x, t, noise, temperature,
                              clip_denoised)
        return x
