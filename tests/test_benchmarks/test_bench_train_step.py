"""benchmarks/bench_train_step.py and bench_memory.py at tiny sizes."""
import importlib
import os.path as osp
import sys

import pytest

BENCH_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks')
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)
bench = importlib.import_module('bench_train_step')
memory = importlib.import_module('bench_memory')

PARTS = ['teacher', 'masker', 'encoder', 'predictor', 'heads', 'optimizer']


@pytest.mark.parametrize('stage', [1, 2])
def test_train_step_table(stage, tmp_path, capsys):
    result = bench.main(['--stage', str(stage), '--size', 'tiny', '--batch',
                         '2', '--warmup', '0', '--iters', '1', '--cache-dir',
                         str(tmp_path)])
    rows = {row['part']: row for row in result['rows']}
    assert list(rows) == PARTS + ['step (profiled)', 'step (plain)']
    for part in ('teacher', 'encoder', 'predictor', 'heads'):
        assert rows[part]['ms'] > 0 and rows[part]['GFLOP'] > 0, part
    # Trained parts have a backward, the frozen teacher has none.
    assert rows['encoder']['bwd ms'] > 0 and rows['teacher']['bwd ms'] == 0
    assert rows['masker']['GFLOP'] == 0
    total = sum(rows[p]['GFLOP'] for p in PARTS)
    assert rows['step (plain)']['GFLOP'] == pytest.approx(total)
    assert 0 < result['mfu'] < 1
    out = capsys.readouterr().out
    assert f'Stage {stage} train step, tiny: 2 clips' in out
    assert '| step (plain)' in out and 'clips/s' in out


def test_local_attn_kernels_table(tmp_path, capsys):
    rows = bench.main(['--stage', '2', '--size', 'tiny', '--batch', '2',
                       '--warmup', '0', '--iters', '1', '--cache-dir',
                       str(tmp_path), '--local-attn-kernels', 'dense',
                       'blocked'])
    assert [row['local attention'] for row in rows] == ['dense', 'blocked']
    assert rows[0]['x dense'] == 1 and rows[1]['x dense'] > 0
    assert all(row['step ms'] > 0 for row in rows)
    assert "predictor's local layers with each kernel" in \
        capsys.readouterr().out


def test_memory_table(tmp_path):
    table = memory.main(['--stage', '1', '--size', 'tiny', '--batch', '2',
                         '--cache-dir', str(tmp_path)])
    plain, cp = table
    assert plain['variant'] == 'plain'
    assert cp['variant'] == 'activation checkpointing'
    # Checkpointing keeps fewer activations for the backward.
    assert 0 < cp['saved for backward MiB'] < plain['saved for backward MiB']
    assert plain['step peak MiB'] > 0
