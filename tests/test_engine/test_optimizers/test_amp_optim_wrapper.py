import pytest
import torch
from torch import nn

from mmivnext.engine.optimizers import AnyDeviceAmpOptimWrapper
from mmivnext.registry import OPTIM_WRAPPERS


def _build(**kwargs):
    model = nn.Linear(8, 4)
    wrapper = OPTIM_WRAPPERS.build(
        dict(type='mmivnext.AnyDeviceAmpOptimWrapper',
             optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
             **kwargs))
    return model, wrapper


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path')
def test_cpu_amp_runs_in_bf16_and_steps():
    model, wrapper = _build(clip_grad=dict(max_norm=1.0))
    assert isinstance(wrapper, AnyDeviceAmpOptimWrapper)
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 8))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)
    # The state round-trips (resume) without a loss scaler state.
    _, other = _build()
    other.load_state_dict(wrapper.state_dict())


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path')
def test_cpu_amp_rejects_fp16():
    with pytest.raises(ValueError, match='float16'):
        _build(dtype='float16')


def _pretend_accelerator(monkeypatch):
    """Take the accelerator branch on this machine (the branch's own logic
    is what is tested; MMEngine's AmpOptimWrapper only asserts a device)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    from mmivnext.engine.optimizers import amp_optim_wrapper
    monkeypatch.setattr(amp_optim_wrapper, '_has_accelerator', lambda: True)
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    # Else torch's GradScaler disables itself for want of CUDA.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)


def test_bf16_on_accelerators_needs_no_loss_scaler(monkeypatch):
    _pretend_accelerator(monkeypatch)
    _, bf16 = _build(dtype='bfloat16')
    assert not bf16.loss_scaler.is_enabled()
    # fp16, or an explicit bf16 scale, keeps MMEngine's scaler.
    _, fp16 = _build(dtype='float16')
    assert fp16.loss_scaler.is_enabled()
    _, scaled = _build(dtype='bfloat16', loss_scale=1024.)
    assert scaled.loss_scaler.is_enabled()
