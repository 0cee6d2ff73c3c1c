"""tools/probe_sweep.py on a tiny demo set with a tiny random encoder
(tests/probe_sweep_helpers.py): the JSON, the terminal and the log of a
two-seed sweep, and bad input stopped before anything is written. The sweep
itself is tested in tests/test_apis/test_probe_sweep.py."""
import json

import numpy as np
import pytest

from probe_sweep_helpers import CONFIG, cfg_options, write_videos
from script_helpers import load_script

probe_sweep = load_script('tools/probe_sweep.py')


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return write_videos(str(tmp_path_factory.mktemp('probe_sweep_videos')))


def test_sweep_writes_json_with_two_seeds(videos, tmp_path, capsys):
    work_dir = tmp_path / 'sweep'
    result = probe_sweep.main([
        CONFIG, '--work-dir', str(work_dir), '--seeds', '0', '1', '--lrs',
        '1e-3', '--views', '2', '--name', 'tiny', '--device', 'cpu',
        '--cfg-options', *cfg_options(videos)])
    saved = json.loads((work_dir / 'probe_sweep.json').read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved['name'] == 'tiny' and saved['config'] == CONFIG
    assert saved['encoder_checkpoint'] is None
    assert (saved['seeds'], saved['lrs'], saved['views']) == ([0, 1], [1e-3],
                                                              2)
    assert (saved['num_train'], saved['num_val']) == (24, 12)
    assert saved['iters_per_epoch'] == 5  # 24 clips in batches of 5

    runs = saved['runs']
    assert [(r['lr'], r['seed']) for r in runs] == [(1e-3, 0), (1e-3, 1)]
    # Other seeds, other heads: the final losses differ.
    assert runs[0]['train_loss'] != runs[1]['train_loss']
    [summary] = saved['summary']
    for key in ('top1', 'top5'):
        values = [r[key] for r in runs]
        assert all(0 <= v <= 1 for v in values)
        assert summary[f'{key}_mean'] == pytest.approx(np.mean(values))
        assert summary[f'{key}_std'] == pytest.approx(np.std(values))
    assert summary['num_seeds'] == 2

    out = capsys.readouterr().out
    assert 'top-1 (%)' in out and 'probe_sweep.json' in out
    assert 'Epoch' not in out and 'epoch 1/2' not in out  # in the log only
    log = (work_dir / 'probe_sweep.log').read_text()
    assert 'lr=0.001 seed=1 epoch 2/2 (view 1)' in log
    assert 'Cached features: train 2 x (24, ' in log


def test_missing_cls_head_names_the_key(videos, tmp_path):
    config = tmp_path / 'no_head.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n'
                      'model = dict(cls_head=None)\n')
    options = [o for o in cfg_options(videos)
               if not o.startswith('model.cls_head')]
    with pytest.raises(SystemExit, match=r'no `model\.cls_head`'):
        probe_sweep.main([str(config), '--work-dir', str(tmp_path / 'out'),
                          '--cfg-options', *options])
    assert not (tmp_path / 'out').exists()  # nothing built or written


@pytest.mark.parametrize('args, message', [
    (['--seeds'], 'the seed list is empty'),
    (['--views', '0'], 'views: 0 is not a positive'),
], ids=['empty-seeds', 'no-views'])
def test_bad_sweep_arguments_stop_before_writing(tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        probe_sweep.main([CONFIG, '--work-dir', str(tmp_path / 'out'), *args])
    assert not (tmp_path / 'out').exists()
