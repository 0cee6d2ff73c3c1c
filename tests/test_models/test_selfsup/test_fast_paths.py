"""The fast paths of a pretraining step, each against the plain path: SDPA
kernels, activation checkpointing, torch.compile, bf16, fused AdamW, and no
host reads of device values."""
import copy

import pytest
import torch
import torch.nn.functional as F

from mmivnext.models.utils import sdpa_backends_context
from mmivnext.testing.tiny_stage1 import build, clips, tiny_model_cfg


def _twin(model, cfg):
    """A model built from ``cfg`` with ``model``'s weights."""
    twin = build(cfg)
    twin.load_state_dict(model.state_dict())
    return twin


def _step(model, x, seed=0):
    """Losses and gradients of one step; every random draw seeded alike."""
    torch.manual_seed(seed)
    model.zero_grad(set_to_none=True)
    model.train()
    losses = model(x, mode='loss')
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def _assert_same_step(a, b, rtol=1e-5, atol=1e-6):
    """Assert two fp32 steps agree to rounding (the model has float32 parts
    by design, e.g. RoPE and sinusoids, so it cannot run in float64).

    A gradient entry is a sum over the whole step, so its rounding error
    scales with its tensor's largest entry, not with itself (cancellation
    makes entries arbitrarily small): each tensor gets ``atol + rtol * max``.
    ``rtol = 1e-5``: attention kernels that round differently (blocked
    online softmax vs plain) differ by ~sqrt(32) eps (eps = 1.2e-7) over
    <= 32 head dims or tokens, carried through ~10 layers forward and back
    (~7e-6; a real difference is O(1)). ``atol = 1e-6``: gradients that are
    exactly 0 (key biases, which softmax ignores) are rounding noise of the
    O(1) gradients, a few eps.
    """
    (losses_a, grads_a), (losses_b, grads_b) = a, b
    assert losses_a.keys() == losses_b.keys()
    assert grads_a.keys() == grads_b.keys() and grads_a
    for k in losses_a:
        torch.testing.assert_close(losses_a[k], losses_b[k], rtol=rtol,
                                   atol=atol, msg=k)
    for k in grads_a:
        tol = atol + rtol * float(grads_b[k].abs().max())
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=0, atol=tol,
                                   msg=k)


@pytest.fixture
def plain(tiny_checkpoints):
    torch.manual_seed(0)
    cfg = tiny_model_cfg(tiny_checkpoints)
    return cfg, build(cfg)


def test_unfused_math_attention_matches_the_default_kernels(plain):
    cfg, model = plain
    math_model = _twin(model, dict(cfg, sdpa_backends=['math']))
    assert math_model.sdpa_backends == ('math', )
    x = clips()
    _assert_same_step(_step(model, x), _step(math_model, x))


def test_sdpa_backends_restrict_the_kernels():
    # float64: the math kernel and the formula round differently, and the
    # default float64 tolerance (1e-7) is far above either's rounding.
    q = torch.randn(1, 2, 8, 16, dtype=torch.float64)
    with sdpa_backends_context(['math']):
        reference = F.scaled_dot_product_attention(q, q, q)
    explicit = torch.softmax(q @ q.transpose(-1, -2) / 4, -1) @ q
    torch.testing.assert_close(reference, explicit)
    # On CPU there is no memory-efficient kernel: restricting to it raises.
    with pytest.raises(RuntimeError):
        with sdpa_backends_context(['efficient']):
            F.scaled_dot_product_attention(q, q, q)
    with pytest.raises(ValueError, match='unknown SDPA backends'):
        sdpa_backends_context(['fast'])
    with pytest.raises(ValueError, match='non-empty list'):
        sdpa_backends_context('math')


def test_activation_checkpointing_matches(plain):
    cfg, model = plain
    cp_cfg = copy.deepcopy(cfg)
    cp_cfg['backbone']['with_cp'] = True
    cp_cfg['predictor']['with_cp'] = True
    cp_model = _twin(model, cp_cfg)
    x = clips()
    _assert_same_step(_step(model, x), _step(cp_model, x))


def test_compiled_encoder_matches(plain):
    cfg, model = plain
    # aot_eager traces forward and backward like inductor, without building
    # C++ kernels (the benchmark uses inductor).
    compiled = _twin(model, dict(cfg,
                                 compile_encoder=dict(backend='aot_eager')))
    assert compiled.backbone._compiled_call_impl is not None
    assert model.backbone._compiled_call_impl is None
    x = clips()
    _assert_same_step(_step(model, x), _step(compiled, x))
    # Parameter names, and so checkpoints, are those of the plain model.
    assert compiled.state_dict().keys() == model.state_dict().keys()
    with pytest.raises(TypeError, match='compile_encoder'):
        build(dict(cfg, compile_encoder='inductor'))


def test_bf16_autocast_with_a_bf16_teacher_is_close(plain):
    cfg, model = plain
    bf16_cfg = copy.deepcopy(cfg)
    bf16_cfg['teacher']['dtype'] = 'bfloat16'
    bf16 = _twin(model, bf16_cfg)
    assert bf16.teacher.vision_model.dtype == torch.bfloat16
    x = clips()
    losses, grads = _step(model, x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bf16_losses, bf16_grads = _step(bf16, x)
    for k in losses:
        torch.testing.assert_close(bf16_losses[k].float(), losses[k],
                                   rtol=5e-2, atol=2e-2, msg=k)
    # Gradients agree as a whole (single near-zero entries, such as biases
    # that softmax ignores, are rounding noise in either precision).
    flat = torch.cat([grads[k].flatten() for k in grads])
    bf16_flat = torch.cat([bf16_grads[k].float().flatten() for k in grads])
    assert F.cosine_similarity(flat, bf16_flat, dim=0) > 0.99


def test_fused_adamw_matches_the_loop(plain):
    cfg, model = plain
    params = [p for p in model.parameters() if p.requires_grad]
    copies = [p.detach().clone().requires_grad_() for p in params]
    loop = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05,
                             betas=(0.9, 0.98), foreach=False)
    fused = torch.optim.AdamW(copies, lr=1e-3, weight_decay=0.05,
                              betas=(0.9, 0.98), fused=True)
    x = clips()
    for step in range(3):
        _step(model, x, seed=step)  # the same gradients for both
        for p, c in zip(params, copies):
            c.grad = p.grad.clone()
        loop.step()
        fused.step()
    # Elementwise updates, no reductions: the two kernels differ by a few
    # ulps of p (rtol ~80 eps) or, near 0, of the 1e-3 steps (atol).
    for p, c in zip(params, copies):
        torch.testing.assert_close(p, c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('masker', [
    None, dict(type='MultiBlockMasker'),
    dict(type='RandomMasker', mask_ratio=0.5)])
def test_train_step_reads_no_device_values(tiny_checkpoints, masker):
    """On the meta device any host read of a tensor's value raises: the
    forward and backward must queue work without ever waiting for it."""
    cfg = tiny_model_cfg(tiny_checkpoints)
    if masker is not None:
        cfg['masker'] = masker
    model = build(cfg).to('meta')
    losses = model(torch.randn(2, 3, 4, 28, 28, device='meta'), mode='loss')
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.backbone.parameters()
               if p.requires_grad)
