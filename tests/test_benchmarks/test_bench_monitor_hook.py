"""benchmarks/bench_monitor_hook.py at tiny size."""
import importlib
import os.path as osp
import sys

BENCH_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks')
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)
bench = importlib.import_module('bench_monitor_hook')


def test_monitor_cost_table(tmp_path, capsys):
    result = bench.main(['--stage', '1', '--batch', '2', '--warmup', '0',
                         '--iters', '1', '--num-samples', '8',
                         '--probe-steps', '5', '--interval', '10',
                         '--cache-dir', str(tmp_path)])
    assert result['step_s'] > 0 and result['check_s'] > 0
    assert result['overhead'] == result['check_s'] / (10 * result['step_s'])
    out = capsys.readouterr().out
    assert 'monitor check (8 clips, 5 probe steps)' in out
    assert 'overhead, a check every 10 steps' in out
