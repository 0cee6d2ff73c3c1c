"""StepProfiler: per-part times, and exactly the gradients of a plain step."""
import copy

import pytest
import torch

from mmivnext.testing.tiny_stage1 import build, clips, tiny_model_cfg
from mmivnext.utils.step_profiler import StepProfiler


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters()
            if p.grad is not None}


@pytest.mark.parametrize('masker', [None, dict(type='MultiBlockMasker')])
def test_segmented_backward_gives_the_plain_gradients(tiny_checkpoints,
                                                      masker):
    cfg = tiny_model_cfg(tiny_checkpoints)
    if masker is not None:  # two student passes per step
        cfg['masker'] = masker
    torch.manual_seed(0)
    model = build(cfg)
    profiled = copy.deepcopy(model)
    x = clips()

    torch.manual_seed(1)
    losses = model(x, mode='loss')
    sum(losses.values()).backward()

    profiler = StepProfiler(dict(teacher=profiled.teacher,
                                 masker=profiled.masker,
                                 encoder=profiled.backbone,
                                 predictor=profiled.predictor))
    torch.manual_seed(1)
    with profiler:
        profiled_losses = profiled(x, mode='loss')
        profiler.backward(sum(profiled_losses.values()))
    for k in losses:
        torch.testing.assert_close(profiled_losses[k], losses[k])
    plain, segmented = _grads(model), _grads(profiled)
    assert plain.keys() == segmented.keys()
    for k in plain:
        torch.testing.assert_close(segmented[k], plain[k], msg=k)

    times = profiler.times
    assert set(times) == {'teacher', 'masker', 'encoder', 'predictor', 'rest'}
    for name in ('encoder', 'predictor', 'rest'):
        assert times[name]['backward'] > 0, name
    for name in ('teacher', 'masker', 'encoder', 'predictor'):
        assert times[name]['forward'] > 0, name
    # The frozen teacher and the masker have no backward.
    assert times['teacher']['backward'] == times['masker']['backward'] == 0
    # The hooks are gone after the context.
    assert not profiled.backbone._forward_hooks


def test_bad_parts():
    with pytest.raises(ValueError, match='reserved'):
        StepProfiler(dict(rest=torch.nn.Linear(1, 1)))
    with pytest.raises(TypeError, match="part 'x'"):
        StepProfiler(dict(x=lambda t: t))
