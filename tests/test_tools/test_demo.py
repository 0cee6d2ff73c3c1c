"""The README's main job (``tools/demo.py``) at the smallest size: Stage 1 ->
reconstruction -> Stage 2 -> export -> probes, through the real tools."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mmivnext.testing import DEMO_CLASSES

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """One small run of the whole chain: 48 training and 24 held-out
    clips, Stage 1 for 2 epochs (12 iterations), Stage 2 for 1 (6), two
    probe seeds of 30 epochs (60 steps on cached features) on each encoder."""
    tmp = tmp_path_factory.mktemp('demo')
    work = tmp / 'work'
    cmd = [
        sys.executable, 'tools/demo.py', '--work-dir', str(work),
        '--data-dir', str(tmp / 'videos'), '--models-dir',
        str(tmp / 'models'), '--num-train', '48', '--num-val', '24',
        '--num-recon', '4', '--seeds', '0', '1',
        '--stage1-options', 'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1',
        '--stage2-options', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        '--probe-options', 'train_cfg.max_epochs=30'
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with open(work / 'summary.json') as f:
        summary = json.load(f)
    return dict(work=work, out=out, summary=summary)


def test_losses_fall_in_both_stages(demo_run):
    losses = demo_run['summary']['losses']
    for stage in ('Stage 1', 'Stage 2'):
        first, last = losses[stage]['loss']
        assert np.isfinite(first) and np.isfinite(last), stage
        assert last < first, f'{stage}: loss {first:.4f} -> {last:.4f}'
    # Every term of Stage 1 is logged and finite.
    assert set(losses['Stage 1']) >= {'loss_pixel', 'loss_align',
                                      'loss_align_global'}
    assert all(np.isfinite(v).all() for v in losses['Stage 1'].values())


def test_exported_encoder_is_the_trained_stage2_student(demo_run):
    work = demo_run['work']
    exported = load_file(str(work / 'encoder.safetensors'))
    init = torch.load(work / 'stage2_init.pth', map_location='cpu',
                      weights_only=True)['state_dict']
    init = {k[len('backbone.'):]: v for k, v in init.items()
            if k.startswith('backbone.')}
    assert set(exported) <= set(init), set(exported) - set(init)
    changed = [k for k in exported
               if not torch.equal(exported[k], init[k].to(exported[k].dtype))]
    # Stage 2 trained the encoder: most of its tensors moved from the
    # Stage-1 weights it started from.
    assert len(changed) > len(exported) // 2, (len(changed), len(exported))


def test_probes_learn_and_are_reported(demo_run):
    work, probes = demo_run['work'], demo_run['summary']['probes']
    # Balanced classes: a head that cannot use its features (zero or
    # shuffled features, labels not reaching the loss) stays at ln(12).
    chance_loss = np.log(len(DEMO_CLASSES))
    for name in ('pretrained', 'random'):
        p = probes[name]
        assert p['num_val'] == 24 and p['num_train'] == 48
        assert p['seeds'] == [0, 1]
        assert 0 <= p['top1_std'] and 0 <= p['top5_std']
        with open(work / f'probe_{name}' / 'probe_sweep.json') as f:
            runs = json.load(f)['runs']
        assert [r['seed'] for r in runs] == [0, 1]
        for run in runs:
            assert run['train_loss'] < chance_loss - 0.3, (name, run)
        assert np.mean([r['top1'] for r in runs]) == pytest.approx(
            p['top1_mean'])


def test_reconstruction_pictures_and_summary(demo_run):
    work, summary = demo_run['work'], demo_run['summary']
    for name in ('reconstruction.png', 'loss_curves.png',
                 'probe_comparison.png'):
        with open(work / name, 'rb') as f:
            assert f.read(8) == PNG_MAGIC, name
    recon = summary['reconstruction']
    assert len(recon['videos']) == 4
    assert np.isfinite(float(recon['mean_psnr_reconstruction']))
    text = (work / 'summary.md').read_text()
    for needle in ('| Stage 1 | loss |', '| Stage 2 | loss |',
                   '| pretrained |', '| random |', 'Masked-patch PSNR',
                   'reconstruction.png', 'probe_comparison.png'):
        assert needle in text, needle


def test_terminal_output_is_short(demo_run):
    out = demo_run['out']
    # One bar per step and the summary; the tools' own logs are in files.
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) < 60, '\n'.join(lines)
    assert 'mmengine - INFO' not in out.stdout + out.stderr
    logs = demo_run['work'] / 'logs'
    assert (logs / 'stage-1.log').read_text().count('Epoch(train)') >= 12
