"""GaussianDiffusion: schedules, forward process, posterior, reverse step,
losses and respacing."""
import math

import pytest
import torch
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.utils.diffusion import (
    GaussianDiffusion, discretized_gaussian_log_likelihood,
    get_named_beta_schedule, normal_kl, space_timesteps)


@pytest.fixture(scope='module')
def diffusion():
    return GaussianDiffusion.from_schedule('cosine', 1000)


def test_cosine_schedule():
    betas = get_named_beta_schedule('cosine', 1000)
    assert betas.shape == (1000, ) and betas.dtype == torch.float64
    assert bool((betas > 0).all()) and float(betas.max()) == 0.999
    assert float(betas[-1]) == 0.999  # abar(1) = 0: the last beta is clipped

    def abar(s):
        return math.cos((s + 0.008) / 1.008 * math.pi / 2)**2

    for i in (0, 10, 500, 990):
        assert float(betas[i]) == pytest.approx(
            1 - abar((i + 1) / 1000) / abar(i / 1000), rel=1e-12)
    ac = GaussianDiffusion(betas).alphas_cumprod
    assert bool((ac[1:] < ac[:-1]).all())  # strictly decreasing
    assert 0.9999 < float(ac[0]) < 1 and float(ac[-1]) < 1e-8


def test_linear_schedule_and_errors():
    betas = get_named_beta_schedule('linear', 1000)
    assert_close(betas[[0, -1]], torch.tensor([1e-4, 0.02],
                                              dtype=torch.float64))
    assert_close(get_named_beta_schedule('linear', 500)[[0, -1]],
                 torch.tensor([2e-4, 0.04], dtype=torch.float64))
    with pytest.raises(ValueError, match='Unknown noise schedule'):
        get_named_beta_schedule('sqrt', 1000)
    with pytest.raises(ValueError, match='at least 2'):
        get_named_beta_schedule('cosine', 1)
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        GaussianDiffusion([0.1, 0.0])


def test_space_timesteps():
    steps = space_timesteps(1000, 100)
    assert len(steps) == 100 and steps[0] == 0 and steps[-1] == 999
    assert {b - a for a, b in zip(steps, steps[1:])} == {10, 11}
    assert steps == [round(i * 999 / 99) for i in range(100)]  # no ties
    assert space_timesteps(10, 10) == list(range(10))
    assert space_timesteps(5, 3) == [0, 2, 4]
    assert space_timesteps(1000, 1) == [0]
    for bad in (0, 1001):
        with pytest.raises(ValueError, match='num_steps'):
            space_timesteps(1000, bad)


def test_respace_keeps_alphas_cumprod(diffusion):
    spaced = diffusion.respace(100)
    keep = torch.tensor(space_timesteps(1000, 100))
    assert spaced.num_timesteps == 100
    assert torch.equal(spaced.timestep_map, keep)
    assert_close(spaced.alphas_cumprod, diffusion.alphas_cumprod[keep],
                 rtol=1e-10, atol=0)
    # Respacing composes with the original step indices.
    twice = spaced.respace(10)
    assert torch.equal(twice.timestep_map,
                       keep[torch.tensor(space_timesteps(100, 10))])
    assert_close(twice.alphas_cumprod,
                 diffusion.alphas_cumprod[twice.timestep_map], rtol=1e-8,
                 atol=0)
    # Keeping every step changes nothing.
    assert_close(diffusion.respace(1000).betas, diffusion.betas, rtol=1e-10,
                 atol=1e-15)
    t = torch.tensor([0, 5, 99])
    assert torch.equal(spaced.model_timesteps(t), keep[t])
    with pytest.raises(ValueError, match='at least 2'):
        diffusion.respace(1)


def test_q_sample_statistics(diffusion):
    torch.manual_seed(0)
    x0 = torch.tensor([[0.8, -0.5, 0.0]], dtype=torch.float64)
    n = 40000
    for step in (50, 400, 900):
        t = torch.full((n, ), step)
        xt = diffusion.q_sample(x0.expand(n, 3), t,
                                torch.randn(n, 3, dtype=torch.float64))
        ac = float(diffusion.alphas_cumprod[step])
        assert_close(xt.mean(0), math.sqrt(ac) * x0[0], atol=0.02, rtol=0)
        assert_close(xt.var(0), torch.full((3, ), 1 - ac,
                                           dtype=torch.float64),
                     atol=0.03, rtol=0.03)
        mean, var, log_var, _ = diffusion.q_mean_variance(x0, t[:1])
        assert_close(mean, math.sqrt(ac) * x0)
        assert_close(var, torch.tensor([[1 - ac]], dtype=torch.float64))
        assert_close(log_var, var.log())


@pytest.mark.parametrize('step', [1, 10, 500, 999])
def test_posterior_matches_gaussian_conditioning(diffusion, step):
    """q(x_{t-1} | x_t, x_0) from conditioning x_{t-1} ~ N(sqrt(abar') x0,
    1 - abar') on x_t | x_{t-1} ~ N(sqrt(alpha) x_{t-1}, beta)."""
    torch.manual_seed(step)
    x0 = torch.randn(4, 6, dtype=torch.float64)
    xt = torch.randn(4, 6, dtype=torch.float64)
    t = torch.full((4, ), step)
    beta = float(diffusion.betas[step])
    ac_prev = float(diffusion.alphas_cumprod[step - 1])
    precision = 1 / (1 - ac_prev) + (1 - beta) / beta
    var = 1 / precision
    mean = var * (math.sqrt(ac_prev) * x0 / (1 - ac_prev) +
                  math.sqrt(1 - beta) * xt / beta)
    post = diffusion.q_posterior_mean_variance(x0, xt, t)
    assert_close(post.mean, mean)
    assert_close(post.variance, torch.full((4, 1), var,
                                           dtype=torch.float64))
    assert_close(post.log_variance, post.variance.log())


def test_posterior_at_t0_is_clipped(diffusion):
    x = torch.zeros(2, 3, dtype=torch.float64)
    post = diffusion.q_posterior_mean_variance(x, x, torch.tensor([0, 1]))
    assert float(post.variance[0]) == 0  # x_0 is known exactly
    assert float(post.log_variance[0]) == float(post.log_variance[1])


def test_p_mean_variance_learned_range(diffusion):
    torch.manual_seed(0)
    x0 = torch.randn(3, 5, dtype=torch.float64)
    noise = torch.randn(3, 5, dtype=torch.float64)
    t = torch.tensor([0, 300, 999])
    xt = diffusion.q_sample(x0, t, noise)
    for v, expected in ((1.0, diffusion.log_betas[t]),
                        (-1.0, diffusion.posterior_log_variance_clipped[t]),
                        (0.0, (diffusion.log_betas[t] +
                               diffusion.posterior_log_variance_clipped[t]) /
                         2)):
        out = diffusion.p_mean_variance(
            torch.cat([noise, torch.full_like(noise, v)], -1), xt, t)
        assert_close(out.log_variance, expected[:, None].expand(3, 5))
        assert_close(out.variance, out.log_variance.exp())
        # The true noise gives back x_0 and the true posterior mean.
        assert_close(out.pred_xstart, x0)
        assert_close(out.mean,
                     diffusion.q_posterior_mean_variance(x0, xt, t).mean)
    clipped = diffusion.p_mean_variance(torch.cat([noise, noise], -1), xt, t,
                                        clip_denoised=0.1)
    assert float(clipped.pred_xstart.abs().max()) <= 0.1
    with pytest.raises(ValueError, match=r'\[N, 2 \* D\]'):
        diffusion.p_mean_variance(noise, xt, t)


def test_normal_kl_matches_torch():
    # float64: the two formulas round differently.
    m1, m2 = (torch.randn(5, dtype=torch.float64) for _ in range(2))
    lv1, lv2 = (torch.randn(5, dtype=torch.float64) for _ in range(2))
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()),
        torch.distributions.Normal(m2, (0.5 * lv2).exp()))
    assert_close(normal_kl(m1, lv1, m2, lv2), expected)


def test_discretized_likelihood():
    centers = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in ((0.3, -3.0), (-0.9, 0.0), (0.0, -6.0)):
        logp = discretized_gaussian_log_likelihood(
            centers, torch.tensor(mean, dtype=torch.float64),
            torch.tensor(log_scale, dtype=torch.float64))
        assert bool((logp <= 0).all())
        # The bins (outer ones open-ended) partition the line.
        assert float(logp.exp().sum()) == pytest.approx(1, abs=1e-3)
    sharp = discretized_gaussian_log_likelihood(
        torch.tensor([0.2]), torch.tensor([0.2]), torch.tensor([-8.0]))
    assert float(sharp) == pytest.approx(0, abs=1e-4)


def test_vb_terms(diffusion):
    torch.manual_seed(0)
    x0 = torch.rand(4, 6, dtype=torch.float64) * 2 - 1
    noise = torch.randn(4, 6, dtype=torch.float64)
    t = torch.tensor([0, 1, 200, 999])
    xt = diffusion.q_sample(x0, t, noise)
    # True noise and the posterior variance (v = -1): the KL vanishes.
    exact = torch.cat([noise, -torch.ones_like(noise)], -1)
    vb = diffusion.vb_terms_bpd(exact, x0, xt, t)
    assert vb.shape == (4, )
    assert_close(vb[1:], torch.zeros(3, dtype=torch.float64), atol=1e-6,
                 rtol=0)
    # t = 0 uses the decoder NLL (bits per dim).
    out = diffusion.p_mean_variance(exact, xt, t)
    nll = -discretized_gaussian_log_likelihood(
        x0[0], out.mean[0], 0.5 * out.log_variance[0]).mean() / math.log(2)
    assert_close(vb[0], nll)
    assert float(vb[0]) > 0
    # A wrong noise estimate costs something.
    worse = diffusion.vb_terms_bpd(exact + 0.1, x0, xt, t)
    assert bool((worse[1:] > 1e-6).all())


def test_training_losses_hybrid(diffusion):
    torch.manual_seed(0)
    x0 = torch.randn(6, 4)
    noise = torch.randn(6, 4)
    t = torch.tensor([0, 1, 10, 100, 500, 999])
    out = torch.randn(6, 8, requires_grad=True)
    seen = {}

    def model_fn(x_t, model_t):
        seen.update(x_t=x_t, t=model_t)
        return out

    losses = diffusion.training_losses(model_fn, x0, t, noise)
    assert_close(seen['x_t'], diffusion.q_sample(x0, t, noise))
    assert torch.equal(seen['t'], t)
    assert_close(losses['mse'], ((noise - out[:, :4])**2).mean(-1))
    assert_close(losses['loss'], losses['mse'] + losses['vb'])
    # The vb term trains the variance only.
    losses['vb'].sum().backward()
    assert float(out.grad[:, :4].abs().max()) == 0
    assert float(out.grad[:, 4:].abs().min()) > 0
    with pytest.raises(ValueError, match='must return'):
        diffusion.training_losses(lambda x, s: x, x0, t, noise)


def test_low_precision_inputs_run_in_float32(diffusion):
    x0 = torch.randn(3, 4, dtype=torch.bfloat16)
    t = torch.tensor([0, 5, 999])
    losses = diffusion.training_losses(
        lambda x, s: torch.zeros(3, 8, dtype=torch.bfloat16), x0, t)
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert diffusion.q_sample(x0, t, torch.randn(3, 4)).dtype == torch.float32


def test_p_sample_and_loop(diffusion):
    spaced = diffusion.respace(5)
    x = torch.randn(2, 3)
    noise = torch.randn(2, 3)
    out = torch.randn(2, 6)

    def model_fn(x_t, model_t):
        return out

    for step in (0, 3):
        t = torch.full((2, ), step)
        mv = spaced.p_mean_variance(out, x, t)
        cold = spaced.p_sample(model_fn, x, t, noise, temperature=0.)
        assert_close(cold, mv.mean)
        warm = spaced.p_sample(model_fn, x, t, noise, temperature=0.5)
        expected = mv.mean if step == 0 else \
            mv.mean + (0.5 * mv.log_variance).exp() * noise * 0.5
        assert_close(warm, expected)
    seen = []
    x0 = spaced.p_sample_loop(lambda x_t, s: seen.append(s[0].item()) or
                              torch.zeros(2, 6), (2, 3))
    assert x0.shape == (2, 3) and x0.dtype == torch.float32
    assert seen == space_timesteps(1000, 5)[::-1]
    with pytest.raises(ValueError, match='temperature'):
        spaced.p_sample_loop(model_fn, (2, 3), temperature=-1.)
