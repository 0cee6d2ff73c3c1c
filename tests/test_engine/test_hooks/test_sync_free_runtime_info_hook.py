"""SyncFreeRuntimeInfoHook + SyncFreeOptimWrapper: the logged history equals
MMEngine's, while the host reads the step's values only when it logs."""
import os.path as osp
import traceback

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.overrides import TorchFunctionMode

from mmivnext.engine.hooks import SyncFreeRuntimeInfoHook

# Tensor methods that copy a value to the host (a synchronisation on GPUs).
HOST_READS = {'item', 'tolist', '__float__', '__int__', '__bool__', 'numpy',
              '__index__'}


class TinyRegressor(BaseModel):
    """A two-layer regressor with two loss terms."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, inputs, targets, mode='loss'):
        pred = self.net(inputs)[:, 0]  # default_collate stacks: [B, 4]
        return dict(loss_mse=((pred - targets)**2).mean(),
                    loss_l1=0.1 * (pred - targets).abs().mean())


def _dataset(n=24):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    y = x @ torch.tensor([1., -2., 0.5, 3.])
    return [dict(inputs=a, targets=b) for a, b in zip(x, y)]


def _runner(tmp_path, name, runtime_info, max_iters=10, log_interval=3,
            wrapper='mmivnext.SyncFreeOptimWrapper', ckpt_interval=100):
    torch.manual_seed(0)
    return Runner(
        model=TinyRegressor(),
        work_dir=str(tmp_path / name),
        experiment_name=name,
        train_dataloader=dict(
            dataset=_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=4, num_workers=0),
        optim_wrapper=dict(type=wrapper,
                           optimizer=dict(type='AdamW', lr=1e-2, fused=True),
                           clip_grad=dict(max_norm=1.0)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            runtime_info=runtime_info,
            logger=dict(type='LoggerHook', interval=log_interval),
            checkpoint=dict(type='CheckpointHook', interval=ckpt_interval,
                            by_epoch=False),
            weights_only_checkpoint=dict(
                type='mmivnext.WeightsOnlyCheckpointHook')),
        default_scope='mmivnext',
        randomness=dict(seed=0))


def _history(runner, key):
    return runner.message_hub.get_scalar(key).data[0].tolist()


def test_logged_history_equals_runtime_info_hook(tmp_path):
    plain = _runner(tmp_path, 'plain', dict(type='RuntimeInfoHook'),
                    wrapper='OptimWrapper')
    plain.train()
    fast = _runner(tmp_path, 'fast',
                   dict(type='mmivnext.SyncFreeRuntimeInfoHook'))
    fast.train()
    for key in ('train/loss', 'train/loss_mse', 'train/loss_l1',
                'train/grad_norm'):
        assert len(_history(fast, key)) == 10
        assert _history(fast, key) == pytest.approx(_history(plain, key))


class _HostReads(TorchFunctionMode):
    """Records host reads of tensors made from MMEngine's or torch.optim's
    code (the model's own code is checked on the meta device elsewhere)."""

    def __init__(self):
        super().__init__()
        self.iteration = None
        self.reads = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in HOST_READS and self.iteration is not None:
            stack = traceback.extract_stack()[:-1]
            callers = [f.filename for f in stack
                       if f'{osp.sep}torch{osp.sep}' not in f.filename
                       or f'{osp.sep}optim{osp.sep}' in f.filename]
            self.reads.append((self.iteration, name, callers[-1]))
        return func(*args, **(kwargs or {}))


class _Attribute(Hook):
    """Attributes the host reads between the first and the last hook of each
    train iteration to that iteration."""

    def __init__(self, mode, start):
        self.mode = mode
        self.priority = 'HIGHEST' if start else 'LOWEST'
        self.start = start

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.start:
            self.mode.iteration = runner.iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if not self.start:
            self.mode.iteration = None


def _record_reads(runner):
    mode = _HostReads()
    runner.register_hook(_Attribute(mode, start=True))
    runner.register_hook(_Attribute(mode, start=False))
    with mode:
        runner.train()
    return {it for it, _, _ in mode.reads}, mode.reads


def test_host_reads_happen_only_at_logging_iterations(tmp_path):
    fast = _runner(tmp_path, 'fast',
                   dict(type='mmivnext.SyncFreeRuntimeInfoHook'))
    iterations, reads = _record_reads(fast)
    # iter is 0-based: the logger (interval 3) logs after iterations 2, 5, 8
    # and at the end (9).
    assert iterations <= {2, 5, 8, 9}, reads

    plain = _runner(tmp_path, 'plain', dict(type='RuntimeInfoHook'),
                    wrapper='OptimWrapper')
    iterations, reads = _record_reads(plain)
    assert iterations == set(range(10))  # every step reads (the baseline)


def test_checkpoints_hold_every_logged_value(tmp_path):
    runner = _runner(tmp_path, 'ckpt',
                     dict(type='mmivnext.SyncFreeRuntimeInfoHook'),
                     max_iters=4, log_interval=3, ckpt_interval=4)
    runner.train()
    ckpt = torch.load(tmp_path / 'ckpt' / 'iter_4.pth', weights_only=True)
    from mmivnext.engine.hooks import WeightsOnlyCheckpointHook
    WeightsOnlyCheckpointHook().after_load_checkpoint(None, ckpt)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert len(buffer.data[0]) == 4


def test_other_optim_wrappers_keep_logging_themselves(tmp_path):
    runner = _runner(tmp_path, 'plain_wrapper',
                     dict(type='mmivnext.SyncFreeRuntimeInfoHook'),
                     wrapper='OptimWrapper', max_iters=4)
    runner.train()
    assert len(_history(runner, 'train/grad_norm')) == 4
    assert len(_history(runner, 'train/loss')) == 4


def test_bad_interval():
    with pytest.raises(ValueError, match='interval'):
        SyncFreeRuntimeInfoHook(interval=0)
