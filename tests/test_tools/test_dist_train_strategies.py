"""tools/dist_train.sh with a FlexibleRunner strategy, on two CPU ranks (gloo).

The Stage-1 demo model (frozen tiny SigLIP teacher, ModernBERT predictor,
diffusion head) trains with the FSDP settings of the shipped ViT-1B config
(configs/ivnext/scale_out/ivnext-stage1-fsdp_vit-1b-p14_64xb32-16x1x1-50e_k710.py:
one unit per transformer block, activation checkpointing, bf16 weights and
reduction), as users run it. MMEngine's DDPStrategy on CPU is tested in one process in
tests/test_utils/test_compat.py.
"""
import math
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.dirname(osp.abspath(__file__))
DEMO = osp.join(
    ROOT, 'configs/ivnext/demo',
    'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')
FSDP_1B = osp.join(
    ROOT, 'configs/ivnext/scale_out',
    'ivnext-stage1-fsdp_vit-1b-p14_64xb32-16x1x1-50e_k710.py')

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason='CPU (gloo) check')


@pytest.fixture(scope='module')
def demo_models(tmp_path_factory):
    from mmivnext.testing import make_demo_models
    return make_demo_models(str(tmp_path_factory.mktemp('demo_models')))


def _overlay(tmp_path, strategy: dict) -> str:
    """The Stage-1 demo config with ``strategy`` and the probe hook."""
    path = tmp_path / 'demo_with_strategy.py'
    path.write_text(
        f'_base_ = [{DEMO!r}]\n'
        "custom_imports = dict(imports=['rank_state_probe_hook'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='RankStateProbeHook')]\n"
        "runner_type = 'FlexibleRunner'\n"
        f'strategy = {strategy!r}\n')
    return str(path)


def _options(demo_videos, demo_models, max_epochs=1):
    return [
        f'model.teacher.pretrained={demo_models["teacher"]}',
        f'model.predictor.pretrained={demo_models["predictor"]}',
        f'train_dataloader.dataset.ann_file={demo_videos["train_list"]}',
        f'train_dataloader.dataset.data_prefix.video={demo_videos["root"]}',
        'train_dataloader.batch_size=3', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={max_epochs}', 'default_hooks.logger.interval=1'
    ]


def _dist_train(config, work_dir, options, args=()):
    """``tools/dist_train.sh CONFIG 2`` on a free port; returns the log."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    cmd = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir',
           str(work_dir), *args, '--cfg-options', *options]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port),
               OMP_NUM_THREADS='1', PYTHONPATH=f'{ROOT}:{HELPERS}')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed:\n{proc.stdout[-4000:]}\n'
        f'{proc.stderr[-6000:]}')
    logs = sorted(work_dir.glob('*/*.log'))
    return logs[-1].read_text()


def _losses(log):
    return [float(line.split('loss: ')[1].split()[0])
            for line in log.splitlines() if 'Epoch(train)' in line]


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _plain_model(demo_models):
    """The demo Stage-1 model without any wrapper, with the tiny models."""
    import mmivnext.models  # noqa: F401
    from mmivnext.registry import MODELS
    cfg = Config.fromfile(DEMO)
    cfg.model.teacher.pretrained = demo_models['teacher']
    cfg.model.predictor.pretrained = demo_models['predictor']
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(cfg.model)


def test_fsdp_trains_saves_and_resumes_on_two_ranks(demo_videos, demo_models,
                                                    tmp_path):
    strategy = Config.fromfile(FSDP_1B).strategy.to_dict()
    config = _overlay(tmp_path, strategy)
    work_dir = tmp_path / 'fsdp'
    # bf16 FSDP weights need the AMP wrapper's autocast, as on GPUs.
    log = _dist_train(config, work_dir,
                      _options(demo_videos, demo_models),
                      args=['--amp', '--auto-scale-lr'])
    assert 'GPU number: 2' in log
    assert 'Scaling the original LR by 0.75' in log  # 2 x 3 clips / 8
    losses = _losses(log)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)

    # One checkpoint file, weights-only loadable, with the plain model's keys
    # (no FSDP or checkpoint-wrapper prefixes, no teacher) in fp32: it loads
    # strictly into the model without FSDP.
    checkpoint = _weights(work_dir / 'epoch_1.pth')
    assert checkpoint['meta']['iter'] == 2  # 12 clips / (2 ranks x 3)
    state = checkpoint['state_dict']
    plain = _plain_model(demo_models)
    assert state.keys() == plain.state_dict().keys()
    plain.load_state_dict(state, strict=True)
    for key, value in plain.state_dict().items():
        assert state[key].dtype == value.dtype, key

    # Both ranks clipped with the same norm (over all shards), and both hold
    # the whole frozen teacher, unsharded, uncast and frozen.
    probes = [_weights(work_dir / f'rank{r}_probe.pth') for r in (0, 1)]
    assert probes[0]['model_type'] == 'MMFullyShardedDataParallel'
    torch.testing.assert_close(probes[0]['grad_norm'], probes[1]['grad_norm'])
    assert torch.isfinite(probes[0]['grad_norm']).all()
    teacher = {
        f'0.0.{name}': (tuple(p.shape), 'cpu', str(p.dtype), False)
        for name, p in plain.teacher.vision_model.named_parameters()
    }
    assert probes[0]['teacher'] == probes[1]['teacher'] == teacher

    # --resume goes on from the checkpoint, optimizer state included.
    log = _dist_train(config, work_dir,
                      _options(demo_videos, demo_models, max_epochs=2),
                      args=['--amp', '--resume'])
    assert 'resumed epoch: 1, iter: 2' in log
    resumed = _weights(work_dir / 'epoch_2.pth')
    assert resumed['meta']['iter'] == 4
    steps = {float(s['step']) for s in resumed['optimizer']['state'].values()}
    assert steps == {4.0}  # AdamW steps: 2 before and 2 after resuming
