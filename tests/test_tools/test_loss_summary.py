"""tools/analysis/loss_summary.py on a scalars.json like MMEngine writes."""
import importlib.util
import json
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'loss_summary', osp.join(ROOT, 'tools/analysis/loss_summary.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(work_dir):
    vis = work_dir / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for step in range(1, 11):
            f.write(json.dumps(dict(step=step, lr=0.1, loss=10.0 / step,
                                    loss_a=1.0, data_time=0.01)) + '\n')
        f.write(json.dumps(dict(step=10, **{'acc/top1': 0.5})) + '\n')


def test_summary_and_plot(tmp_path, capsys):
    _write_run(tmp_path)
    tool = _tool()
    out = tmp_path / 'curves.png'
    tool.main([str(tmp_path), '--window', '2', '--plot', str(out),
               '--keys', 'lr'])
    text = capsys.readouterr().out
    first, last = (10 + 5) / 2, (10 / 9 + 1) / 2
    line = next(x for x in text.splitlines() if x.startswith('loss '))
    assert f'{first:8.4f}' in line and f'{last:8.4f}' in line
    assert out.stat().st_size > 1000
    series = tool.read_scalars(tool.find_scalars(str(tmp_path)), ('lr', ))
    assert set(series) == {'loss', 'loss_a', 'lr'}


def test_errors_name_the_problem(tmp_path):
    tool = _tool()
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        tool.main([str(tmp_path)])
    _write_run(tmp_path)
    with pytest.raises(KeyError, match='nope'):
        tool.main([str(tmp_path), '--plot', str(tmp_path / 'x.png'),
                   '--keys', 'nope'])
