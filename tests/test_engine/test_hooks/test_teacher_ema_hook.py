"""TeacherEMAHook: the EMA update after each iteration, and the teacher's
weights through checkpoints (an interrupted and resumed run ends exactly as an
uninterrupted one). Tiny encoders (width 32, 2 layers, 4 frames, 28 px)."""
import copy
import socket
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from mmengine.runner import Runner
from torch import nn
from torch.testing import assert_close

from mmivnext.engine.hooks import TeacherEMAHook
from mmivnext.testing.tiny_stage2 import TinyStage2, write_stage1_checkpoint


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A fake Stage-1 checkpoint: encoder weights under ``backbone.``."""
    return write_stage1_checkpoint(
        tmp_path_factory.mktemp('stage1') / 'stage1.pth')


def teacher_weights(model):
    return copy.deepcopy(model.teacher.encoder.state_dict())


# ------------------------------------------------------------ with a runner
def _runner(ckpt, work_dir, name, resume_from=None):
    gen = torch.Generator().manual_seed(0)
    dataset = [dict(inputs=torch.randn(3, 4, 28, 28, generator=gen))
               for _ in range(4)]
    return Runner(
        model=TinyStage2(ckpt),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=dataset, batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[dict(type='TeacherEMAHook', momentum=0.9),
                      dict(type='WeightsOnlyCheckpointHook')],
        default_scope='mmivnext',
        randomness=dict(seed=0),
        load_from=resume_from,
        resume=resume_from is not None)


def test_runner_updates_saves_and_resumes_exactly(ckpt, tmp_path):
    full = _runner(ckpt, tmp_path / 'full', 'ema_hook_full')
    initial = teacher_weights(full.model)
    full.train()
    final = teacher_weights(full.model)
    assert not torch.equal(final['blocks.0.attn.qkv.weight'],
                           initial['blocks.0.attn.qkv.weight'])

    path = str(tmp_path / 'full' / 'epoch_1.pth')
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    assert not any(k.startswith('teacher.') for k in checkpoint['state_dict'])
    saved = checkpoint['ema_teacher']
    assert set(saved) == set(initial)
    assert not torch.equal(saved['blocks.0.attn.qkv.weight'],
                           initial['blocks.0.attn.qkv.weight'])

    resumed = _runner(ckpt, tmp_path / 'resumed', 'ema_hook_resumed',
                      resume_from=path)
    resumed.train()
    assert resumed.iter == full.iter == 4
    for key, value in teacher_weights(resumed.model).items():
        assert torch.equal(value, final[key]), key
    for key, value in resumed.model.backbone.state_dict().items():
        assert torch.equal(value, full.model.backbone.state_dict()[key]), key


# ------------------------------------------------------------ hook methods
def test_after_train_iter_is_one_ema_step(ckpt):
    model = TinyStage2(ckpt)
    before = teacher_weights(model)
    TeacherEMAHook(momentum=0.75).after_train_iter(
        SimpleNamespace(model=model), batch_idx=0)
    student = model.backbone.state_dict()
    for name, value in model.teacher.encoder.named_parameters():
        assert_close(value, 0.75 * before[name] + 0.25 * student[name])


def test_unwraps_ddp(ckpt):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=0, world_size=1)
    try:
        model = TinyStage2(ckpt)
        before = teacher_weights(model)
        wrapped = nn.parallel.DistributedDataParallel(model)
        TeacherEMAHook(momentum=0.5).after_train_iter(
            SimpleNamespace(model=wrapped), batch_idx=0)
        assert_close(model.teacher.encoder.pos_embed,
                     0.5 * before['pos_embed'] + 0.5 * model.backbone.pos_embed)
    finally:
        dist.destroy_process_group()


def test_checkpoint_round_trip(ckpt):
    hook = TeacherEMAHook()
    source = TinyStage2(ckpt)
    source.teacher.ema_update(source.backbone, 0.5)
    checkpoint = dict(state_dict=source.state_dict())
    hook.before_save_checkpoint(SimpleNamespace(model=source), checkpoint)
    target = TinyStage2(ckpt)
    hook.after_load_checkpoint(SimpleNamespace(model=target), checkpoint)
    for key, value in teacher_weights(target).items():
        assert torch.equal(value, teacher_weights(source)[key]), key


def test_checkpoint_without_teacher_leaves_it(ckpt):
    model = TinyStage2(ckpt)
    before = teacher_weights(model)
    TeacherEMAHook().after_load_checkpoint(SimpleNamespace(model=model),
                                           dict(state_dict={}))
    for key, value in teacher_weights(model).items():
        assert torch.equal(value, before[key]), key


def test_needs_an_ema_teacher(ckpt):
    hook = TeacherEMAHook()

    class NoTeacher(nn.Module):
        backbone = nn.Linear(1, 1)

    class LinearTeacher(NoTeacher):
        teacher = nn.Linear(1, 1)

    for model, name in ((NoTeacher(), 'NoneType'),
                        (LinearTeacher(), 'Linear')):
        runner = SimpleNamespace(model=model)
        with pytest.raises(TypeError, match=f'ema_update.*teacher is {name}'):
            hook.before_train(runner)
        with pytest.raises(TypeError, match='ema_update'):
            hook.after_train_iter(runner, batch_idx=0)


@pytest.mark.parametrize('momentum', [0., 1.5, -0.1])
def test_bad_momentum(momentum):
    with pytest.raises(ValueError, match='momentum'):
        TeacherEMAHook(momentum=momentum)
