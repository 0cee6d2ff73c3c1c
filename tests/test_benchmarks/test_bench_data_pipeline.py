"""benchmarks/bench_data_pipeline.py on the session's demo set and on videos it
writes itself: the tables, the pipeline it takes from the config, its errors."""
import importlib
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH_DIR = osp.join(ROOT, 'benchmarks')
K400 = osp.join(ROOT, 'configs', '_base_', 'datasets', 'k400_unlabeled.py')


def _load_benchmark(name):
    """Import a script of ``benchmarks/`` (not a package) by module name."""
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    return importlib.import_module(name)


bench = _load_benchmark('bench_data_pipeline')


def parse_table(text, first_column):
    """Header and rows (lists of cells) of the Markdown table in ``text``
    whose first column is ``first_column``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(f'| {first_column} '))
    table = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        table.append([cell.strip() for cell in line.strip('|').split('|')])
    return table[0], table[2:]


def test_main_over_the_demo_set(demo_videos, capsys):
    bench.main(['--video-dir', demo_videos['root'], '--frames', '4',
                '--img-size', '56', '--clips', '4', '--warmup', '1',
                '--iters', '1', '--workers', '0', '1', '--backends',
                'decord', 'pyav'])
    out = capsys.readouterr().out
    assert 'clips of 4 frames at 56 px' in out
    cores = float(re.search(r'worker kept ([\d.]+) cores busy', out).group(1))
    assert cores > 0
    assert out.index('Environment:') < out.index('| step')

    header, cells = parse_table(out, 'step')
    assert header == ['step', 'ms/clip', '% of total', 'clips/s']
    steps = [s.type.split('.')[-1]
             for s in Config.fromfile(K400).train_pipeline]
    assert [row[0] for row in cells] == steps + [
        'other (get_data_info, loop)', 'total (one worker)']
    for row in cells[:len(steps)]:
        assert float(row[1]) > 0 and float(row[2]) > 0, row
    total = dict(zip(header, cells[-1]))
    assert float(total['% of total']) == 100
    assert float(total['clips/s']) > 0
    shares = [float(row[2]) for row in cells[:-1]]
    assert sum(shares) == pytest.approx(100, abs=1)

    # One per-transform table per backend, pyav's after decord's.
    assert out.index('backend decord') < out.index('backend pyav')

    header, cells = parse_table(out, 'backend')
    assert header == ['backend', 'loader', 'workers', 'clips/s',
                      'clips/s per worker', 'ratio vs in-process',
                      'per-worker ratio']
    loaders = [bench.IN_PROCESS, 'DataLoader num_workers=0',
               'DataLoader num_workers=1']
    assert [row[:2] for row in cells] == [
        [b, loader] for b in ('decord', 'pyav') for loader in loaders]
    for row in cells:
        assert all(float(value) > 0 for value in row[2:]), row
    assert float(cells[0][5]) == float(cells[3][5]) == 1

    # (c): the backends side by side, ratios to the first.
    table = out[out.index('(c) Video backends'):]
    header, rows = parse_table(table, 'backend')
    assert header == ['backend', 'in process clips/s',
                      'num_workers=0 clips/s per worker',
                      'num_workers=1 clips/s per worker',
                      'ratio vs decord (in process)']
    assert [row[0] for row in rows] == ['decord', 'pyav']
    assert float(rows[0][-1]) == 1
    assert float(rows[1][-1]) == pytest.approx(
        float(rows[1][1]) / float(rows[0][1]), rel=0.01)


def test_main_writes_its_own_videos(capsys):
    breakdown, loader_rows, _ = bench.main(
        ['--num-videos', '2', '--video-frames', '8', '--video-size', '32',
         '--frames', '2', '--img-size', '28', '--clips', '2', '--warmup', '0',
         '--iters', '1', '--workers', '0', '--backends', 'pyav'])
    out = capsys.readouterr().out
    assert '2 demo videos of 8 frames at 32x32 px' in out
    assert {row['backend'] for row in loader_rows + breakdown} == {'pyav'}
    assert [row['loader'] for row in loader_rows] == [
        bench.IN_PROCESS, 'DataLoader num_workers=0']
    assert breakdown[-1]['clips/s'] > 0


def test_load_pipeline_config_takes_the_config_pipeline():
    cfg = Config.fromfile(K400)
    dataset_cfg, pipeline = bench.load_pipeline_config(K400)
    assert pipeline == cfg.to_dict()['train_pipeline']
    assert dataset_cfg['type'] == 'UnlabeledVideoDataset'
    assert 'pipeline' not in dataset_cfg

    _, changed = bench.load_pipeline_config(K400, frames=4, img_size=56)
    assert len(changed) == len(pipeline)
    for before, after in zip(pipeline, changed):
        name = before['type'].split('.')[-1]
        expected = dict(before)
        if name == 'UniformSample':
            expected['clip_len'] = 4
        elif name == 'MultiScaleCrop':
            expected['input_size'] = 56
        elif name == 'Resize':
            expected['scale'] = (56, 56)
        assert after == expected
    _, pyav = bench.load_pipeline_config(K400, backend='pyav')
    assert [s for s in pyav if s['type'] == 'mmivnext.VideoInit'] == [
        dict(type='mmivnext.VideoInit', backend='pyav')]
    # The config's own values were not touched.
    assert bench.load_pipeline_config(K400)[1] == pipeline


def test_load_pipeline_config_errors(tmp_path):
    no_pipeline = tmp_path / 'no_pipeline.py'
    no_pipeline.write_text('train_dataloader = dict(dataset=dict())\n')
    with pytest.raises(ValueError, match='no train_pipeline'):
        bench.load_pipeline_config(str(no_pipeline))
    no_sampler = tmp_path / 'no_sampler.py'
    no_sampler.write_text(
        "train_pipeline = [dict(type='mmaction.DecordInit')]\n"
        'train_dataloader = dict(dataset=dict())\n')
    bench.load_pipeline_config(str(no_sampler))  # nothing to change: fine
    with pytest.raises(ValueError, match='no UniformSample to change'):
        bench.load_pipeline_config(str(no_sampler), frames=4)


def test_transform_names_number_repeats():
    class A:
        pass

    class B:
        pass

    assert bench.transform_names([A(), B(), A()]) == ['A #1', 'B', 'A #2']


def test_check_sample():
    sample = dict(inputs=torch.zeros(1, 3, 4, 8, 8, dtype=torch.uint8))
    bench.check_sample(sample, 4, 8)
    with pytest.raises(AssertionError, match=r'expected \(1, 3, 2, 8, 8\)'):
        bench.check_sample(sample, 2, 8)
    with pytest.raises(AssertionError, match='uint8'):
        bench.check_sample(dict(inputs=sample['inputs'].float()), 4, 8)


@pytest.mark.parametrize('argv,message', [
    (['--clips', '3', '--batch', '2'],
     r'--clips \(3\) must be a multiple of --batch \(2\)'),
    (['--workers', '0', '-1'], r'--workers must be >= 0, got \[0, -1\]'),
    (['--frames', '0'], r'--frames must be >= 1, got 0'),
    (['--video-dir', '/nonexistent/videos'],
     r"--video-dir '/nonexistent/videos' has no train.txt"),
    (['--config', '/nonexistent.py'], r"--config '/nonexistent.py' does not"),
    (['--backends', 'opencv'], r"invalid choice: 'opencv'"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert re.search(message, capsys.readouterr().err)
