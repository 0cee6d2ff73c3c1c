"""DiffMLPHead: init, loss, training, sampling (tiny sizes, CPU)."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (compat fixes before anything else)
from mmivnext.models.heads import DiffMLPHead
from mmivnext.models.heads.diff_mlp_head import AdaLNResBlock
from mmivnext.models.utils.diffusion import space_timesteps
from mmivnext.registry import MODELS

D, C = 12, 8  # target and condition widths


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, and do not slow to a crawl
    when other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_head(**kwargs):
    cfg = dict(target_dims=D, cond_dims=C, width=32, depth=2)
    cfg.update(kwargs)
    return DiffMLPHead(**cfg)


def randomise(head):
    """Make every parameter non-zero so that outputs depend on all of them."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return head


def test_zero_init_output_and_structure():
    head = tiny_head()
    torch.manual_seed(0)
    out = head(torch.randn(6, D), torch.randint(0, 1000, (6, )),
               torch.randn(6, C))
    assert out.shape == (6, 2 * D)
    assert torch.equal(out, torch.zeros(6, 2 * D))
    assert len(head.blocks) == 2
    # The blocks' norms are affine at weight 1, bias 0 (MAR's and the
    # authors' ResBlock.in_ln); the final layer's is not.
    for block in head.blocks:
        assert isinstance(block.norm, nn.LayerNorm)
        assert block.norm.elementwise_affine and block.norm.eps == 1e-6
        assert torch.equal(block.norm.weight.detach(), torch.ones(32))
        assert torch.equal(block.norm.bias.detach(), torch.zeros(32))
    final_norm = head.final_layer.norm
    assert not final_norm.elementwise_affine and final_norm.eps == 1e-6
    assert not list(final_norm.parameters())
    zero = [b.adaLN_modulation[-1] for b in head.blocks] + [
        head.final_layer.adaLN_modulation[-1], head.final_layer.linear]
    assert all(p.detach().abs().max().item() == 0 for m in zero
               for p in m.parameters())
    # The rest is initialised non-trivially.
    assert float(head.input_proj.weight.detach().abs().min()) > 0
    assert float(head.cond_embed.weight.detach().std()) > 0.1
    assert float(head.time_embed.mlp[0].weight.detach().std()) == \
        pytest.approx(0.02, rel=0.1)


def test_adaln_res_block():
    torch.manual_seed(0)
    block = AdaLNResBlock(16)
    x, y = torch.randn(3, 16), torch.randn(3, 16)
    nn.init.zeros_(block.adaLN_modulation[-1].weight)
    nn.init.zeros_(block.adaLN_modulation[-1].bias)
    assert torch.equal(block(x, y), x)  # zero gate: identity
    with torch.no_grad():
        block.adaLN_modulation[-1].weight.normal_()
        block.norm.weight.normal_()
        block.norm.bias.normal_()
    shift, scale, gate = block.adaLN_modulation(y).chunk(3, -1)
    h = nn.functional.layer_norm(x, (16, ), block.norm.weight,
                                 block.norm.bias, eps=1e-6)
    h = h * (1 + scale) + shift
    assert_close(block(x, y), x + gate * block.mlp(h))


def authors_forward(sd, x_t, t, z, depth):
    """The authors' ``SimpleMLPAdaLN.forward`` (MAR's, InternVideo-Next
    ``models/diffloss.py``) in plain torch on the state dict ``sd`` of our
    head: the residual blocks' ``in_ln`` is affine, the final layer's
    ``norm_final`` is not, both with eps 1e-6."""
    F = nn.functional

    def linear(x, name):
        return F.linear(x, sd[f'{name}.weight'], sd[f'{name}.bias'])

    def modulate(x, shift, scale):
        return x * (1 + scale) + shift

    # Timestep sinusoids are float32 in the authors' code too.
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(
        half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    t_freq = torch.cat([torch.cos(args), torch.sin(args)], -1).double()

    x = linear(x_t, 'input_proj')
    t_emb = linear(F.silu(linear(t_freq, 'time_embed.mlp.0')),
                   'time_embed.mlp.2')
    y = t_emb + linear(z, 'cond_embed')
    for i in range(depth):
        b = f'blocks.{i}.'
        shift, scale, gate = linear(F.silu(y),
                                    b + 'adaLN_modulation.1').chunk(3, -1)
        h = F.layer_norm(x, x.shape[-1:], sd[b + 'norm.weight'],
                         sd[b + 'norm.bias'], eps=1e-6)
        h = modulate(h, shift, scale)
        h = linear(F.silu(linear(h, b + 'mlp.0')), b + 'mlp.2')
        x = x + gate * h
    shift, scale = linear(F.silu(y),
                          'final_layer.adaLN_modulation.1').chunk(2, -1)
    x = modulate(F.layer_norm(x, x.shape[-1:], eps=1e-6), shift, scale)
    return linear(x, 'final_layer.linear')


def test_forward_equals_authors_arithmetic():
    """Our head, run in float64, against the authors' denoiser arithmetic
    with the same weights (non-trivial block-norm affine parameters)."""
    head = randomise(tiny_head(depth=3)).double()
    # Our sinusoids are float32 (as the authors'); feed them to the
    # float64 time MLP.
    sinusoids = head.time_embed.sinusoids
    head.time_embed.sinusoids = lambda t: sinusoids(t).double()
    assert float((head.blocks[0].norm.weight.detach() - 1).abs().max()) > \
        0.05
    torch.manual_seed(0)
    x_t = torch.randn(7, D, dtype=torch.float64)
    t = torch.randint(0, 1000, (7, ))
    z = torch.randn(7, C, dtype=torch.float64)
    sd = {k: v.detach() for k, v in head.state_dict().items()}
    expected = authors_forward(sd, x_t, t, z, depth=3)
    assert_close(head(x_t, t, z), expected)
    # The block norm's affine parameters matter: dropping them changes it.
    sd = dict(sd)
    for i in range(3):
        sd[f'blocks.{i}.norm.weight'] = torch.ones_like(
            sd[f'blocks.{i}.norm.weight'])
        sd[f'blocks.{i}.norm.bias'] = torch.zeros_like(
            sd[f'blocks.{i}.norm.bias'])
    assert not torch.allclose(head(x_t, t, z),
                              authors_forward(sd, x_t, t, z, depth=3))


def test_default_init_at_construction_and_kept_by_init_weights():
    head = tiny_head()
    assert float(head.final_layer.linear.weight.detach().abs().max()) == 0
    assert all(torch.equal(b.norm.weight.detach(), torch.ones(32)) and
               torch.equal(b.norm.bias.detach(), torch.zeros(32))
               for b in head.blocks)
    loaded = tiny_head()
    loaded.load_state_dict(randomise(tiny_head()).state_dict())
    loaded.init_weights()  # applies init_cfg only: none here
    assert float(loaded.final_layer.linear.weight.detach().abs().max()) > 0


def test_initial_loss_finite():
    torch.manual_seed(0)
    head = tiny_head()
    loss = head.loss(torch.randn(16, C), torch.rand(16, D) * 2 - 1)
    assert isinstance(loss, torch.Tensor)
    assert loss.shape == () and loss.dtype == torch.float32
    # eps = 0 gives mse ~ 1; v = 0 a moderate vb term.
    assert 0.5 < loss.item() < 5
    loss.backward()
    assert float(head.final_layer.linear.weight.grad.abs().max()) > 0


def test_loss_uses_batch_mul_and_weights():
    torch.manual_seed(0)
    head = tiny_head(loss=dict(type='DiffusionLoss', diffusion_batch_mul=3))
    seen = []
    head.register_forward_hook(lambda m, args, out: seen.append(args))
    z = torch.randn(5, C)
    head.loss(z, torch.randn(5, D))
    x_t, t, z_rep = seen[0]
    assert x_t.shape == (15, D) and torch.equal(z_rep, z.repeat(3, 1))
    out = head.loss(z, torch.randn(5, D), weights=torch.ones(5))
    assert torch.isfinite(out)


def test_loss_decreases_when_overfitting():
    torch.manual_seed(0)
    head = tiny_head(width=48, loss=dict(type='DiffusionLoss',
                                         diffusion_batch_mul=16))
    z, target = torch.randn(8, C), torch.rand(8, D) * 2 - 1
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=0.)
    history = []
    for _ in range(200):
        loss = head.loss(z, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    first, last = sum(history[:10]) / 10, sum(history[-20:]) / 20
    assert last < 0.3 * first, (first, last)


def test_sample_shape_determinism_temperature():
    head = randomise(tiny_head())
    z = torch.randn(4, C)
    a = head.predict(z, num_steps=8, generator=torch.Generator().manual_seed(0))
    b = head.predict(z, num_steps=8, generator=torch.Generator().manual_seed(0))
    c = head.predict(z, num_steps=8, generator=torch.Generator().manual_seed(1))
    assert a.shape == (4, D) and a.dtype == torch.float32
    assert not a.requires_grad
    assert torch.equal(a, b) and not torch.allclose(a, c)
    cold = [head.predict(z, num_steps=8, temperature=0.,
                        generator=torch.Generator().manual_seed(s))
            for s in (0, 1)]
    assert torch.equal(cold[0], cold[1]) and not torch.allclose(cold[0], a)
    # The same z gives the same sample at temperature 0, whatever its batch.
    # Batches of 4 and 2 run different fp32 GEMM kernels (the sinusoids are
    # float32, so the head cannot run in float64), and the first step
    # (beta = 1) scales the samples to ~1 / sqrt(abar_T) ~ 2e4: each of the 8
    # steps adds a few eps (1.2e-7) of that scale, carried on by the next.
    lone = head.predict(z[:1].repeat(2, 1), num_steps=8, temperature=0.)[1]
    scale = float(cold[0][0].abs().max())
    assert_close(lone, cold[0][0], rtol=0, atol=1e-5 * scale)


def test_sample_uses_respaced_original_steps():
    head = tiny_head(num_sampling_steps=7)
    steps = []
    head.register_forward_hook(
        lambda m, args, out: steps.append(int(args[1][0])))
    out = head.predict(torch.randn(3, C))
    assert out.shape == (3, D)
    assert steps == space_timesteps(1000, 7)[::-1]


def test_sample_reconstructs_conditioned_targets():
    """Two conditions -> two constant targets: after a short overfit, samples
    of each condition land near its own target.

    The first reverse step of the cosine schedule (``beta ~ 1``) multiplies
    the noise-estimate error by ~600, which only long training makes small;
    ``clip_denoised=1`` (targets lie in [-1, 1]) bounds it, as improved DDPM
    does for images.
    """
    torch.manual_seed(0)
    head = tiny_head(width=64, clip_denoised=1.0,
                     loss=dict(type='DiffusionLoss', diffusion_batch_mul=64))
    z = torch.randn(2, C)
    target = torch.stack([torch.linspace(-0.8, 0.8, D),
                          torch.linspace(0.6, -0.6, D)])
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=0.)
    for _ in range(300):
        loss = head.loss(z, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    samples = head.predict(z.repeat_interleave(8, 0), num_steps=50,
                          generator=torch.Generator().manual_seed(0))
    samples = samples.view(2, 8, D)
    err = (samples - target[:, None]).abs()  # [2, 8, D]
    assert float(err.mean()) < 0.1, float(err.mean())
    assert float((samples.mean(1) - target).abs().max()) < 0.15
    # Each sample is much nearer its own target than the other one.
    other = (samples - target.flip(0)[:, None]).abs().mean(-1)
    assert bool((err.mean(-1) < 0.25 * other).all())
    cold = head.predict(z, num_steps=50, temperature=0.)
    assert float((cold - target).abs().max()) < 0.15


def test_bf16_autocast_keeps_float32_math():
    torch.manual_seed(0)
    head = randomise(tiny_head())
    z, target = torch.randn(6, C), torch.randn(6, D)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = head.loss(z.bfloat16(), target.bfloat16())
        sample = head.predict(z, num_steps=5)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert sample.dtype == torch.float32 and torch.isfinite(sample).all()


def test_empty_batch():
    head = tiny_head()
    loss = head.loss(torch.zeros(0, C), torch.zeros(0, D))
    loss.backward()
    assert loss.item() == 0
    assert head.predict(torch.zeros(0, C), num_steps=3).shape == (0, D)


def test_bad_inputs():
    head = tiny_head()
    with pytest.raises(ValueError, match='cond_dims'):
        head.loss(torch.zeros(3, C + 1), torch.zeros(3, D))
    with pytest.raises(ValueError, match='target_dims'):
        head.loss(torch.zeros(3, C), torch.zeros(3, D + 1))
    with pytest.raises(ValueError, match='tokens'):
        head.loss(torch.zeros(3, C), torch.zeros(4, D))
    with pytest.raises(ValueError, match='weights'):
        head.loss(torch.zeros(3, C), torch.zeros(3, D), torch.ones(3, 1))
    with pytest.raises(ValueError, match='cond_dims'):
        head.predict(torch.zeros(3, 1, C))
    with pytest.raises(ValueError, match='x_t'):
        head(torch.zeros(3, D + 1), torch.zeros(3, dtype=torch.long),
             torch.zeros(3, C))
    with pytest.raises(TypeError, match='diffusion loss'):
        tiny_head(loss=dict(type='PixelMSELoss'))
    with pytest.raises(TypeError):
        tiny_head(widht=64)


def test_registry_build_and_defaults():
    head = MODELS.build(dict(type='DiffMLPHead', target_dims=D, cond_dims=C,
                             width=16, depth=1, loss=dict(
                                 type='DiffusionLoss', num_timesteps=100)))
    assert isinstance(head, DiffMLPHead)
    assert head.loss_module.diffusion.num_timesteps == 100
    default = DiffMLPHead.__init__.__defaults__
    assert default[:4] == (588, 1024, 1536, 6)
    loss = DiffMLPHead(target_dims=D, cond_dims=C, width=16,
                       depth=0).loss_module
    assert (loss.num_timesteps, loss.noise_schedule,
            loss.diffusion_batch_mul) == (1000, 'cosine', 4)
