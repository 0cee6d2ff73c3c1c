"""tools/train.py, tools/test.py and tools/dist_train.sh, run as users run them.

Each test trains the demo config (the README's main job) for a few iterations on
the session's small demo set, with the model shrunk through --cfg-options.
"""
import json
import math
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    ROOT, 'configs/demo/recognizer3d_vit-tiny-p14_1xb8-8x1x1-10e_demo-videos.py')


def _cfg_options(demo_videos, max_epochs=1):
    """Point the demo config at the test set, shrink it and make it exact.

    Workers are not persistent and nothing in the model draws random numbers,
    so an interrupted and resumed run sees the same data and augmentations as
    an uninterrupted one.
    """
    root, opts = demo_videos['root'], []
    for split, ann_file in (('train', demo_videos['train_list']),
                            ('val', demo_videos['val_list']),
                            ('test', demo_videos['val_list'])):
        opts += [
            f'{split}_dataloader.dataset.ann_file={ann_file}',
            f'{split}_dataloader.dataset.data_prefix.video={root}',
            f'{split}_dataloader.num_workers=1',
            f'{split}_dataloader.persistent_workers=False',
            # The sampling transform is the second of every pipeline.
            f'{split}_dataloader.dataset.pipeline.1.clip_len=4',
        ]
    return opts + [
        'train_dataloader.batch_size=4',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.num_layers=2',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.num_frames=4',
        'model.backbone.drop_path_rate=0.0',
        'model.cls_head.in_channels=32',
        f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.logger.interval=1',
    ]


def _train(demo_videos, work_dir, max_epochs=1, extra_options=(), args=()):
    return [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), *args, '--cfg-options',
        *_cfg_options(demo_videos, max_epochs), *extra_options
    ]


def _run(cmd, env=None, timeout=600):
    full_env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n'
        f'{proc.stderr[-6000:]}')
    return proc


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_train_then_test(demo_videos, tmp_path):
    work_dir = tmp_path / 'run'
    _run(_train(demo_videos, work_dir))
    checkpoint = work_dir / 'epoch_1.pth'
    # The runner's checkpoint loads weights-only (no pickled code).
    state = _weights(checkpoint)
    assert state['meta']['epoch'] == 1

    out = tmp_path / 'metrics.json'
    proc = _run([
        sys.executable, 'tools/test.py', CONFIG,
        str(checkpoint), '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(out), '--cfg-options', *_cfg_options(demo_videos)
    ])
    metrics = json.loads(out.read_text())['metrics']
    assert 0.0 <= metrics['acc/top1'] <= 1.0
    assert 'acc/top1' in proc.stdout


def test_resume_continues_like_an_uninterrupted_run(demo_videos, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    _run(_train(demo_videos, full, max_epochs=2))
    _run(_train(demo_videos, part, max_epochs=1))
    proc = _run(_train(demo_videos, part, max_epochs=2, args=['--resume']))
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr

    resumed = _weights(part / 'epoch_2.pth')
    uninterrupted = _weights(full / 'epoch_2.pth')
    assert resumed['meta']['iter'] == uninterrupted['meta']['iter']
    for key, value in uninterrupted['state_dict'].items():
        torch.testing.assert_close(
            resumed['state_dict'][key], value, msg=f'{key} differs')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (gloo) check')
def test_dist_train_two_ranks_end_identical(demo_videos, tmp_path):
    work_dir = tmp_path / 'dist'
    # The demo config plus a hook (tests/test_tools/rank_weights_hook.py)
    # that saves every rank's weights.
    config = tmp_path / 'demo_with_rank_weights.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        "custom_imports = dict(imports=['rank_weights_hook'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='SaveRankWeightsHook')]\n")
    cmd = _train(demo_videos, work_dir)
    # tools/dist_train.sh CONFIG 2 [train.py options]
    cmd = ['bash', 'tools/dist_train.sh', str(config), '2'] + cmd[3:]
    helper_dir = osp.dirname(osp.abspath(__file__))
    _run(cmd, env=dict(PYTHON=sys.executable, PORT=str(_free_port()),
                       PYTHONPATH=f'{ROOT}:{helper_dir}'))
    rank0 = _weights(work_dir / 'rank0_weights.pth')
    rank1 = _weights(work_dir / 'rank1_weights.pth')
    saved = _weights(work_dir / 'epoch_1.pth')['state_dict']
    assert rank0.keys() == rank1.keys() == saved.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
        assert torch.equal(rank0[key], saved[key]), key
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log

    # tools/dist_test.sh CONFIG CHECKPOINT 2 [test.py options]
    out = tmp_path / 'dist_metrics.json'
    _run(['bash', 'tools/dist_test.sh', CONFIG,
          str(work_dir / 'epoch_1.pth'), '2', '--work-dir',
          str(tmp_path / 'dist_test'), '--out', str(out), '--cfg-options',
          *_cfg_options(demo_videos)],
         env=dict(PYTHON=sys.executable, PORT=str(_free_port())))
    metrics = json.loads(out.read_text())['metrics']
    assert 0.0 <= metrics['acc/top1'] <= 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (bf16) check')
def test_amp_trains_on_cpu(demo_videos, tmp_path):
    work_dir = tmp_path / 'amp'
    # mmaction2 1.2.0's heads compute top-k accuracy of hard labels through
    # numpy, which has no bfloat16; mixup's soft labels skip that path.
    mixup = [
        'model.data_preprocessor.blending.type=MixupBlending',
        'model.data_preprocessor.blending.num_classes=12',
        'model.data_preprocessor.blending.alpha=0.2'
    ]
    proc = _run(
        _train(demo_videos, work_dir, args=['--amp'], extra_options=mixup))
    log = next(work_dir.glob('*/*.log')).read_text()
    assert "type='mmivnext.AnyDeviceAmpOptimWrapper'" in log
    losses = [float(line.split('loss: ')[1].split()[0])
              for line in log.splitlines() if 'Epoch(train)' in line]
    assert losses and all(math.isfinite(loss) for loss in losses), proc.stdout
    assert (work_dir / 'epoch_1.pth').is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (gloo) check')
def test_stage1_demo_trains_on_two_ranks(demo_videos, tmp_path):
    """DDP over the Stage-1 model: every parameter gets a gradient (DDP fails
    on unused ones), the frozen teacher stays out of it, ranks agree."""
    from mmivnext.testing import make_demo_models
    models = make_demo_models(str(tmp_path / 'demo_models'))
    config = osp.join(
        ROOT, 'configs/ivnext/demo/'
        'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')
    work_dir = tmp_path / 'stage1'
    _run([
        'bash', 'tools/dist_train.sh', config, '2', '--work-dir',
        str(work_dir), '--cfg-options',
        f'model.teacher.pretrained={models["teacher"]}',
        f'model.predictor.pretrained={models["predictor"]}',
        f'train_dataloader.dataset.ann_file={demo_videos["train_list"]}',
        f'train_dataloader.dataset.data_prefix.video={demo_videos["root"]}',
        'train_dataloader.batch_size=3', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'custom_hooks=[]'  # the demo's monitor reads data/demo_videos
    ], env=dict(PYTHON=sys.executable, PORT=str(_free_port())))
    state = _weights(work_dir / 'epoch_1.pth')
    assert state['meta']['iter'] == 2  # 12 clips / (2 ranks x 3)
    assert not any(k.startswith('teacher') for k in state['state_dict'])
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'GPU number: 2' in log and 'loss_pixel' in log
