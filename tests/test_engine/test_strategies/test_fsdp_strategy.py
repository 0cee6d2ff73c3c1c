"""AnyDeviceFSDPStrategy in one process (a gloo group of one rank): argument
checks, what the FSDP wrapping does to a model with a frozen teacher, clipping
over shards and the checkpoint state round trips. The two-rank runs through
tools/dist_train.sh are in tests/test_tools/test_dist_train_strategies.py."""
import copy
import functools
import os
import socket

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import \
    CheckpointWrapper
from torch.distributed.fsdp import FullyShardedDataParallel

from mmivnext.engine.strategies import (AnyDeviceFSDPStrategy, classes_named,
                                        move_frozen_teachers)
from mmivnext.engine.strategies.fsdp_strategy import _sharded_clip_grad_norm
from mmivnext.models.teachers import BaseFrozenTeacher
from mmivnext.testing.tiny_stage2 import (TinyStage2, make_encoder,
                                          write_stage1_checkpoint)

BLOCK = 'TransformerEncoderLayer'


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A fake Stage-1 checkpoint: encoder weights under ``backbone.``."""
    return write_stage1_checkpoint(
        tmp_path_factory.mktemp('stage1') / 'stage1.pth')


class HoldingTeacher(BaseFrozenTeacher):
    """A frozen teacher holding one linear layer outside the module tree."""

    def __init__(self):
        super().__init__()
        self.hold('linear', nn.Linear(4, 4))


def _strategy(tmp_path, launcher='none', **kwargs):
    return AnyDeviceFSDPStrategy(
        work_dir=str(tmp_path),
        env_kwargs=dict(launcher=launcher, randomness=dict(seed=0)),
        **kwargs)


@pytest.fixture
def one_rank_group(monkeypatch):
    """torchrun's environment for one rank; the group is destroyed after."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0',
               WORLD_SIZE='1', LOCAL_RANK='0',
               # MMEngine sets these for distributed runs if unset.
               OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'),
               MKL_NUM_THREADS=os.environ.get('MKL_NUM_THREADS', '1'))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_classes_named():
    model = nn.Sequential(make_encoder(0), nn.Linear(2, 2))
    (cls, ) = classes_named(model, [BLOCK], 'wrap_modules')
    assert cls.__name__ == BLOCK
    with pytest.raises(ValueError, match=r"\['TransformerEncoderLayr'\].*"
                       r"'TransformerEncoderLayer'"):
        classes_named(model, ['TransformerEncoderLayr'], 'wrap_modules')
    with pytest.raises(TypeError, match='sequence of class names'):
        classes_named(model, BLOCK, 'wrap_modules')


def test_move_frozen_teachers_moves_the_held_models():
    """FSDP moves the module tree only; the held models are moved here."""
    model = nn.ModuleDict(dict(teacher=HoldingTeacher(), head=nn.Linear(2, 2)))
    held = model['teacher'].linear
    assert move_frozen_teachers(model, torch.device('meta')) == 1
    assert held.weight.device.type == 'meta'
    assert not held.weight.requires_grad
    assert model['head'].weight.device.type == 'cpu'  # FSDP's business


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(activation_checkpointing=dict(check_fn='f')), ValueError,
     'checkpoint_modules'),
    (dict(wrap_modules=BLOCK), TypeError, 'wrap_modules must be'),
    (dict(checkpoint_modules=[]), TypeError, 'checkpoint_modules must be'),
    (dict(wrap_modules=[BLOCK], model_wrapper=dict(auto_wrap_policy='f')),
     ValueError, 'not both'),
    (dict(wrap_module=[BLOCK]), TypeError, 'wrap_module'),
])
def test_bad_arguments_raise(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        _strategy(tmp_path, **kwargs)


def test_needs_a_process_group(tmp_path):
    strategy = _strategy(tmp_path)
    with pytest.raises(RuntimeError, match='distributed launch'):
        strategy.prepare(nn.Linear(2, 2))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_cpu_full_state_dicts_are_not_offloaded(tmp_path):
    strategy = _strategy(tmp_path)
    assert not strategy.state_dict_config.offload_to_cpu
    assert not strategy.optim_state_dict_config.offload_to_cpu
    assert strategy.state_dict_config.rank0_only  # 'full' is the default


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (gloo) check')
def test_wraps_blocks_keeps_the_teacher_whole_and_round_trips_state(
        tmp_path, ckpt, one_rank_group, monkeypatch):
    from mmivnext.engine.optimizers import AnyDeviceAmpOptimWrapper
    built_with = {}
    build = AnyDeviceAmpOptimWrapper.__init__

    def spy(self, optimizer, use_fsdp=False, **kwargs):
        built_with['use_fsdp'] = use_fsdp
        build(self, optimizer, use_fsdp=use_fsdp, **kwargs)

    monkeypatch.setattr(AnyDeviceAmpOptimWrapper, '__init__', spy)
    strategy = _strategy(
        tmp_path, launcher='pytorch', wrap_modules=[BLOCK],
        checkpoint_modules=[BLOCK])
    assert dist.is_initialized() and dist.get_backend() == 'gloo'
    plain = TinyStage2(ckpt)
    teacher_before = copy.deepcopy(plain.teacher.encoder.state_dict())
    model, optim_wrapper = strategy.prepare(
        TinyStage2(ckpt),
        optim_wrapper=dict(
            type='mmivnext.AnyDeviceAmpOptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3),
            clip_grad=dict(max_norm=1.0)),
        dispatch_kwargs=dict(max_iters=2, max_epochs=1))

    # One FSDP unit per block plus the root; the blocks are checkpointed.
    assert len(FullyShardedDataParallel.fsdp_modules(model)) == 1 + 2
    assert sum(isinstance(m, CheckpointWrapper)
               for m in model.modules()) == 2
    assert built_with == dict(use_fsdp=True)  # the sharded grad scaler
    # Clipping by the norm over all shards.
    assert isinstance(optim_wrapper.clip_func, functools.partial)
    assert optim_wrapper.clip_func.func is _sharded_clip_grad_norm
    assert optim_wrapper.clip_func.args == (model, )

    # The teacher is not FSDP's: whole, frozen, not in the wrapped model's
    # parameters, and unchanged by a training step.
    teacher = model.module.teacher
    wrapped = {id(p) for p in model.parameters()}
    for name, param in teacher.encoder.named_parameters():
        assert id(param) not in wrapped, name
        assert not param.requires_grad, name
        assert param.shape == teacher_before[name].shape, name
    inputs = [torch.randn(3, 4, 28, 28) for _ in range(2)]
    log_vars = model.train_step(dict(inputs=inputs), optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    for name, value in teacher.encoder.state_dict().items():
        torch.testing.assert_close(value, teacher_before[name], msg=name)

    # The full state dict has the plain model's keys and loads into it.
    state = strategy.model_state_dict()
    assert state.keys() == plain.state_dict().keys()
    plain.load_state_dict(state, strict=True)

    # The optimizer state survives a save / load (MMEngine 0.10.7's own
    # load_optim_state_dict fails with torch >= 2.1).
    saved = copy.deepcopy(strategy.optim_state_dict())
    for value in optim_wrapper.optimizer.state.values():
        value['exp_avg'].zero_()
    strategy.load_optim_state_dict(copy.deepcopy(saved))
    reloaded = strategy.optim_state_dict()
    assert reloaded.keys() == saved.keys()
    for name, value in saved['state'].items():
        torch.testing.assert_close(reloaded['state'][name]['exp_avg'],
                                   value['exp_avg'], msg=name)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (gloo) check')
def test_clip_grad_keys_fsdp_cannot_take_raise(tmp_path, ckpt,
                                               one_rank_group):
    strategy = _strategy(tmp_path, launcher='pytorch')
    with pytest.raises(ValueError, match=r"\['error_if_nonfinite'\]"):
        strategy.prepare(
            TinyStage2(ckpt),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-3),
                clip_grad=dict(max_norm=1.0, error_if_nonfinite=True)))


def test_skip_init_weights_refuses_frozen_teachers(tmp_path):
    """A meta-built teacher would run with uninitialised weights (teachers
    load at construction and are in no checkpoint)."""
    strategy = _strategy(tmp_path, skip_init_weights=True)
    with pytest.raises(ValueError, match='frozen teachers'):
        strategy.build_model(nn.ModuleDict(dict(teacher=HoldingTeacher())))
    assert isinstance(strategy.build_model(nn.Linear(2, 2)), nn.Linear)


def test_teacher_ema_hook_refuses_fsdp(tmp_path, ckpt, one_rank_group):
    from types import SimpleNamespace

    from mmivnext.engine.hooks import TeacherEMAHook
    strategy = _strategy(tmp_path, launcher='pytorch', wrap_modules=[BLOCK])
    model, _ = strategy.prepare(
        TinyStage2(ckpt),
        optim_wrapper=dict(type='mmivnext.SyncFreeOptimWrapper',
                           optimizer=dict(type='AdamW', lr=1e-3)),
        dispatch_kwargs=dict(max_iters=2, max_epochs=1))
    with pytest.raises(TypeError, match='TeacherEMAHook does not work with '
                       'FSDP'):
        TeacherEMAHook().before_train(SimpleNamespace(model=model))
