"""tools/train.py killed with SIGKILL during each phase of a checkpoint save
(as a cluster pre-empts a job), then auto-resumed: a complete checkpoint is
always left, and at most one checkpoint interval is lost."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch

from mmivnext.utils.checkpoint_io import load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPER_DIR = osp.dirname(osp.abspath(__file__))
CONFIG = osp.join(
    ROOT, 'configs/demo/recognizer3d_vit-tiny-p14_1xb8-8x1x1-10e_demo-videos.py')


def _command(config, demo_videos, work_dir):
    root = demo_videos['root']
    return [
        sys.executable, 'tools/train.py', str(config), '--work-dir',
        str(work_dir), '--resume', '--cfg-options',
        f'train_dataloader.dataset.ann_file={demo_videos["train_list"]}',
        f'train_dataloader.dataset.data_prefix.video={root}',
        'train_dataloader.dataset.indices=8',
        # Built though never run (val_interval > max_epochs).
        f'val_dataloader.dataset.ann_file={demo_videos["val_list"]}',
        f'val_dataloader.dataset.data_prefix.video={root}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.clip_len=4',
        'train_dataloader.batch_size=4',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.num_layers=1',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.num_frames=4',
        'model.cls_head.in_channels=32',
        'train_cfg.max_epochs=4',
        'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=1',
        'default_hooks.checkpoint.save_best=None',
    ]


def _env(**extra):
    return dict(os.environ, PYTHONPATH=f'{ROOT}:{HELPER_DIR}',
                OMP_NUM_THREADS='1', **extra)


def _run_until_blocked(cmd, phase, at, tmp_path):
    """Start ``cmd``, wait until it blocks in ``phase`` of save ``at``, then
    SIGKILL it. Returns its output."""
    signal_file = tmp_path / f'blocked_{phase}'
    log = tmp_path / f'{phase}.out'
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env=_env(BLOCK_PHASE=phase, BLOCK_AT=str(at),
                     BLOCK_SIGNAL=str(signal_file)))
        deadline = time.time() + 300
        while not signal_file.exists():
            assert proc.poll() is None, (
                f'{phase}: exited ({proc.returncode}) before blocking:\n'
                f'{log.read_text()[-4000:]}')
            assert time.time() < deadline, f'{phase}: never blocked'
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return log.read_text()


def _epochs(work_dir):
    """The epoch of every visible checkpoint, each checked to load."""
    epochs = {}
    for path in sorted(work_dir.glob('[!.]*.pth')):  # not the temporary
        epochs[path.name] = load_checkpoint_file(str(path))['meta']['epoch']
    return epochs


def test_sigkill_during_every_save_phase_loses_at_most_one_interval(
        demo_videos, tmp_path):
    work_dir = tmp_path / 'work'
    config = tmp_path / 'config.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        "custom_imports = dict(imports=['preemption_helper'], "
        'allow_failed_imports=False)\n')
    cmd = _command(config, demo_videos, work_dir)

    # Killed while writing epoch 2: epoch 1 is intact and named.
    _run_until_blocked(cmd, 'write', 2, tmp_path)
    assert _epochs(work_dir) == {'epoch_1.pth': 1}
    assert (work_dir / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    assert list(work_dir.glob('.tmp-epoch_2.pth*'))  # the half-written file

    # Resumed from epoch 1, killed just before epoch 2 replaces its target.
    out = _run_until_blocked(cmd, 'rename', 1, tmp_path)
    assert 'resumed epoch: 1' in out
    assert _epochs(work_dir) == {'epoch_1.pth': 1}

    # Resumed from epoch 1 again, killed after epoch 2 is in place but before
    # last_checkpoint names it: auto-resume still finds epoch 2.
    out = _run_until_blocked(cmd, 'pointer', 1, tmp_path)
    assert 'resumed epoch: 1' in out
    assert _epochs(work_dir) == {'epoch_1.pth': 1, 'epoch_2.pth': 2}
    assert (work_dir / 'last_checkpoint').read_text().endswith('epoch_1.pth')

    # Resumed from epoch 2, killed before the outdated epoch 2 is removed.
    out = _run_until_blocked(cmd, 'rotate', 1, tmp_path)
    assert 'resumed epoch: 2' in out
    assert _epochs(work_dir) == {'epoch_1.pth': 1, 'epoch_2.pth': 2,
                                 'epoch_3.pth': 3}

    # Resumed from epoch 3, the run completes.
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert 'resumed epoch: 3' in proc.stdout + proc.stderr
    final = _epochs(work_dir)
    assert final['epoch_4.pth'] == 4
    checkpoint = load_checkpoint_file(str(work_dir / 'epoch_4.pth'))
    assert checkpoint['meta']['iter'] == 8  # 4 epochs of 2 steps
    assert all(torch.isfinite(v).all() for v in
               checkpoint['state_dict'].values() if v.is_floating_point())
