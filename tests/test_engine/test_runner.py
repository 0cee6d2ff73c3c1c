"""mmivnext.Runner: exact resume of the Stage-1 / Stage-2 demo models,
non-finite losses, checkpoint-hook arguments, newest-loadable auto-resume."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmivnext.engine.runner import (RANDOM_STATES_KEY, build_runner,
                                    torch_checkpoint_problem)
from mmivnext.registry import HOOKS
from mmivnext.testing import make_demo_models
from mmivnext.utils.checkpoint_io import load_checkpoint_file
from mmivnext.utils.encoder_export import ARCHITECTURE_META_KEY
from runner_helpers import tiny_recognizer_cfg, train, use_demo_data
from script_helpers import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'ivnext', 'demo')
STAGE1 = osp.join(DEMO, 'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')
STAGE2 = osp.join(DEMO, 'ivnext-stage2_vit-tiny-p14_1xb8-16x1x1-1e_demo-videos.py')


@pytest.fixture(scope='module')
def demo_models(tmp_path_factory):
    return make_demo_models(str(tmp_path_factory.mktemp('demo_models')))


def _stage1_cfg(demo_videos, demo_models):
    cfg = use_demo_data(Config.fromfile(STAGE1), demo_videos)
    cfg.model.teacher.pretrained = demo_models['teacher']
    cfg.model.predictor.pretrained = demo_models['predictor']
    return cfg


def _assert_same_weights(a, b):
    a = load_checkpoint_file(a)['state_dict']
    b = load_checkpoint_file(b)['state_dict']
    assert a.keys() == b.keys()
    for key in a:
        # Same machine, kernels and shapes: the runs must agree to rounding.
        torch.testing.assert_close(a[key], b[key], msg=f'{key} differs')


def _resume_from(checkpoint, work_dir, cfg, max_epochs, keep_states=True):
    """Auto-resume a run in ``work_dir`` from a copy of ``checkpoint`` (the
    uninterrupted run's, so that the one run gives both)."""
    saved = load_checkpoint_file(checkpoint)
    if not keep_states:
        del saved['meta'][RANDOM_STATES_KEY]
    work_dir.mkdir()
    torch.save(saved, work_dir / osp.basename(checkpoint))
    return train(cfg, work_dir, max_epochs, resume=True)


def test_stage1_and_stage2_resume_exactly(demo_videos, demo_models, tmp_path):
    """Stopped after one epoch and resumed, the Stage-1 and Stage-2 demo
    models end equal to uninterrupted runs (persistent workers, random
    masks, diffusion noise, random crops and frame sampling)."""
    stage1 = _stage1_cfg(demo_videos, demo_models)
    full = tmp_path / 's1_full'
    train(stage1, full, 2)
    runner = _resume_from(full / 'epoch_1.pth', tmp_path / 's1_part', stage1, 2)
    assert runner.iter == 4
    _assert_same_weights(full / 'epoch_2.pth',
                         tmp_path / 's1_part' / 'epoch_2.pth')
    saved = load_checkpoint_file(full / 'epoch_2.pth')
    assert len(saved['meta'][RANDOM_STATES_KEY]) == 1
    assert saved['meta'][ARCHITECTURE_META_KEY]['num_frames'] == 8

    # Without the random states the resumed run differs: the check can fail.
    _resume_from(full / 'epoch_1.pth', tmp_path / 's1_lost', stage1, 2,
                 keep_states=False)
    with pytest.raises(AssertionError, match='differs'):
        _assert_same_weights(full / 'epoch_2.pth',
                             tmp_path / 's1_lost' / 'epoch_2.pth')

    init = str(tmp_path / 'stage2_init.pth')
    load_script('tools/model_converters/stage1_to_stage2.py').main(
        [str(full / 'epoch_2.pth'), init])
    stage2 = use_demo_data(Config.fromfile(STAGE2), demo_videos)
    stage2.model.teacher.checkpoint = init
    stage2.model.init_checkpoint = init
    stage2.model.predictor.pretrained = demo_models['predictor']
    full = tmp_path / 's2_full'
    train(stage2, full, 2)
    _resume_from(full / 'epoch_1.pth', tmp_path / 's2_part', stage2, 2)
    _assert_same_weights(full / 'epoch_2.pth',
                         tmp_path / 's2_part' / 'epoch_2.pth')


def _epoch_batches(demo_videos, sampler, workers):
    """The clips of epoch 1 of the Stage-1 demo data with ``sampler``."""
    cfg = use_demo_data(Config.fromfile(STAGE1), demo_videos,
                        num_workers=workers)
    cfg.train_dataloader.sampler.type = sampler
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    loader.sampler.set_epoch(1)
    return [clip for batch in loader for clip in batch['inputs']]


def test_samples_do_not_depend_on_workers(demo_videos, mmivnext_scope):
    """With SeededSampler a sample's augmentation depends on the seed, epoch
    and index only: 0 workers and 2 persistent workers give equal clips
    (random frame offsets and crops), which DefaultSampler does not."""
    seeded = [_epoch_batches(demo_videos, 'mmivnext.SeededSampler', workers)
              for workers in (0, 2)]
    assert all(torch.equal(x, y) for x, y in zip(*seeded))
    plain = [_epoch_batches(demo_videos, 'DefaultSampler', workers)
             for workers in (0, 2)]
    assert not all(torch.equal(x, y) for x, y in zip(*plain))


@HOOKS.register_module(force=True)
class PoisonWeightsForTestHook(Hook):
    """Sets every trainable weight to NaN before iteration ``at``."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            with torch.no_grad():
                for param in runner.model.parameters():
                    if param.requires_grad:
                        param.fill_(float('nan'))


def test_non_finite_loss_stops_and_keeps_good_checkpoints(demo_videos,
                                                          tmp_path):
    cfg = tiny_recognizer_cfg(demo_videos)
    train(cfg, tmp_path, 1)
    good = (tmp_path / 'epoch_1.pth').read_bytes()
    # NaN weights from the 2nd step of epoch 2 on.
    cfg.custom_hooks = [dict(type='PoisonWeightsForTestHook', at=3)]
    with pytest.raises(FloatingPointError,
                       match=r'train/loss\S* is nan at iteration 4 '
                       r'\(epoch 2\)'):
        train(cfg, tmp_path, 3, resume=True)
    assert (tmp_path / 'epoch_1.pth').read_bytes() == good
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_1.pth')


@pytest.mark.parametrize('hook,key', [('checkpoint', 'intervall'),
                                      ('logger', 'intervall')])
def test_hook_typos_fail_before_training(demo_videos, tmp_path, hook, key):
    cfg = tiny_recognizer_cfg(demo_videos)
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks[hook][key] = 1
    with pytest.raises(TypeError, match=key):
        build_runner(cfg)
    assert not list(tmp_path.glob('*.pth'))


def test_auto_resume_takes_the_newest_complete_checkpoint(demo_videos,
                                                          tmp_path):
    cfg = tiny_recognizer_cfg(demo_videos)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 3
    train(cfg, tmp_path, 2)
    # A newer, truncated epoch_3.pth and an empty last_checkpoint, as a
    # non-atomic writer killed mid-save leaves them.
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_3.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'last_checkpoint').write_text('')
    assert 'not a complete torch checkpoint' in torch_checkpoint_problem(
        str(tmp_path / 'epoch_3.pth'))
    cfg.log_level = 'INFO'
    runner = train(cfg, tmp_path, 3, resume=True)
    log = max(tmp_path.glob('*/*.log')).read_text()  # the resumed run's
    assert f'skipped {tmp_path / "epoch_3.pth"}: not a complete' in log
    assert f'resuming from {tmp_path / "epoch_2.pth"}' in log
    assert runner.epoch == 3 and runner.iter == 6


def test_checkpoint_writes_are_atomic(demo_videos, tmp_path, monkeypatch):
    """The checkpoint is written under a hidden temporary name and renamed;
    last_checkpoint is written after it and rotation comes last."""
    import os
    events = []
    real_replace = os.replace

    def replace(src, dst):
        events.append(('replace', osp.basename(src), osp.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    real_remove = os.remove

    def remove(path):
        events.append(('remove', osp.basename(path)))
        return real_remove(path)

    monkeypatch.setattr(os, 'remove', remove)
    cfg = tiny_recognizer_cfg(demo_videos)
    train(cfg, tmp_path, 2)
    names = [(e[0], e[-1]) for e in events if e[-1] in (
        'epoch_1.pth', 'epoch_2.pth', 'last_checkpoint')]
    assert names == [
        ('replace', 'epoch_1.pth'), ('replace', 'last_checkpoint'),
        ('replace', 'epoch_2.pth'), ('replace', 'last_checkpoint'),
        ('remove', 'epoch_1.pth')]
    assert events[0][1] == '.tmp-epoch_1.pth'
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file() and (
        p.suffix == '.pth' or p.name.startswith('.') or
        p.name == 'last_checkpoint')) == ['epoch_2.pth', 'last_checkpoint']
