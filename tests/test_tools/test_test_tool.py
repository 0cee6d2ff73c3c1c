"""tools/test.py loads checkpoints strictly.

A real checkpoint of the tiny depth-probe config (frozen encoder + trained
head), written by tools/train.py, is evaluated by tools/test.py; damaged copies
of it (no head, an extra key) are refused before anything is evaluated or
written, unless ``--non-strict`` is passed.
"""
import json
import os.path as osp
from collections import OrderedDict

import pytest
import torch

from mmivnext.testing import make_synthetic_depth_sequences
from script_helpers import ROOT, load_script

CONFIG = osp.join(
    ROOT, 'configs/probes/depth/'
    'depth-probe_ivnext-vit-tiny-p14_1xb4-4x1x1-10e_synthetic-depth.py')


def _options(data_root, experiment):
    """Point the config at the synthetic set, run it in-process (no workers)
    and give each runner its own logger (``experiment_name``: MMEngine reuses
    a logger of the same name, i.e. config and second)."""
    options = [f'experiment_name={experiment}']
    for split in ('train', 'val', 'test'):
        options += [
            f'{split}_dataloader.dataset.data_root={data_root}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
        ]
    return options


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch of the tiny depth probe through tools/train.py: its config,
    data and the runner's checkpoint (5 iterations)."""
    tmp = tmp_path_factory.mktemp('strict_test_tool')
    data = make_synthetic_depth_sequences(str(tmp / 'data'), num_frames=12)
    work_dir = tmp / 'train'
    load_script('tools/train.py').main([
        CONFIG, '--work-dir', str(work_dir), '--cfg-options',
        *_options(data['root'], 'train'), 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ])
    return dict(root=data['root'], checkpoint=work_dir / 'epoch_1.pth')


@pytest.fixture(scope='module')
def tool():
    """tools/test.py, imported once (its error class is compared)."""
    return load_script('tools/test.py')


def _test(tool, trained, tmp_path, checkpoint, name, *args):
    out = tmp_path / f'{name}.json'
    tool.main([
        CONFIG, str(checkpoint), '--work-dir', str(tmp_path / name), '--out',
        str(out), *args, '--cfg-options', *_options(trained['root'], name)
    ])
    return out


def _copy(trained, tmp_path, edit):
    """The trained checkpoint with its state dict edited by ``edit``."""
    checkpoint = torch.load(trained['checkpoint'], map_location='cpu',
                            weights_only=True)
    checkpoint['state_dict'] = edit(checkpoint['state_dict'])
    path = tmp_path / 'edited.pth'
    torch.save(checkpoint, path)
    return path


def _without_head(state_dict):
    return OrderedDict(
        (k, v) for k, v in state_dict.items() if not k.startswith('head.'))


def test_training_checkpoint_loads_strictly_and_is_evaluated(
        tool, trained, tmp_path):
    """The runner's own checkpoint (frozen encoder included) has no missing
    or unexpected keys, nor has the same state dict saved from DDP
    (``module.`` prefixes)."""
    state = torch.load(trained['checkpoint'], map_location='cpu',
                       weights_only=True)['state_dict']
    assert any(k.startswith('backbone.') for k in state)
    for name, checkpoint in (
            ('plain', trained['checkpoint']),
            ('ddp', _copy(trained, tmp_path, lambda sd: OrderedDict(
                (f'module.{k}', v) for k, v in sd.items())))):
        out = _test(tool, trained, tmp_path, checkpoint, name)
        result = json.loads(out.read_text())
        assert result['strict'] is True
        assert 0 < result['metrics']['depth/abs_rel'] < 1, name
    # Loaded once, by the checked loader.
    log = next((tmp_path / 'plain').glob('*/*.log')).read_text()
    assert log.count('Load checkpoint from') == 1
    assert 'does not match' not in log


def test_checkpoint_without_head_is_refused(tool, trained, tmp_path):
    checkpoint = _copy(trained, tmp_path, _without_head)
    with pytest.raises(tool.CheckpointMismatchError) as info:
        tool.main([
            CONFIG, str(checkpoint), '--work-dir', str(tmp_path / 'run'),
            '--cfg-options', *_options(trained['root'], 'no_head')
        ])
    message = str(info.value)
    assert str(checkpoint) in message
    head_keys = [k for k in torch.load(
        trained['checkpoint'], map_location='cpu', weights_only=True)
        ['state_dict'] if k.startswith('head.')]
    assert f'{len(head_keys)} missing key(s)' in message
    for key in head_keys[:10]:
        assert key in message
    assert 'unexpected' not in message
    assert '--non-strict' in message
    assert not (tmp_path / 'run' / 'metrics.json').exists()
    assert not list(tmp_path.rglob('metrics.json'))


def test_unexpected_key_is_refused(tool, trained, tmp_path):
    checkpoint = _copy(trained, tmp_path, lambda sd: OrderedDict(
        sd, **{'head.stray.weight': torch.zeros(3)}))
    with pytest.raises(tool.CheckpointMismatchError,
                       match=r'1 unexpected key\(s\) \(in the checkpoint, '
                       r'not in the model\): head\.stray\.weight') as info:
        _test(tool, trained, tmp_path, checkpoint, 'stray')
    assert str(checkpoint) in str(info.value)
    assert 'missing' not in str(info.value)
    assert not (tmp_path / 'stray.json').exists()


def test_non_strict_evaluates_and_warns(tool, trained, tmp_path):
    checkpoint = _copy(trained, tmp_path, _without_head)
    out = _test(tool, trained, tmp_path, checkpoint, 'non_strict',
                '--non-strict')
    result = json.loads(out.read_text())
    assert result['strict'] is False
    assert 'depth/abs_rel' in result['metrics']
    log = next((tmp_path / 'non_strict').glob('*/*.log')).read_text()
    warning = next(line for line in log.splitlines() if 'WARNING' in line
                   and 'does not match' in line)
    assert str(checkpoint) in warning and '--non-strict' in warning
    assert 'missing key(s)' in log and 'head.' in log
