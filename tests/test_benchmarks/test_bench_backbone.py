"""benchmarks/bench_backbone.py at tiny sizes: the table, and that the three
encoders really are compared at equal tokens, parameters and FLOPs."""
import importlib
import os.path as osp
import re
import sys

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

BENCH_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks')


def _load_benchmark(name):
    """Import a script of ``benchmarks/`` (not a package) by module name."""
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    return importlib.import_module(name)


bench = _load_benchmark('bench_backbone')

TINY = ['--arch', 'tiny', '--frames', '2', '--img-size', '28', '--peak-size',
        '256', '--warmup',
        '1', '--iters', '1']
COLUMNS = ['model', 'tokens/clip', 'params', 's/step', 'spread %', 'clips/s',
           'tokens/s', 'GFLOP/s', '% of matmul peak']


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


def test_main_prints_settings_and_the_table(capsys):
    rows = bench.main(TINY + ['--visible-ratio', '0.5'])
    out = capsys.readouterr().out
    header, cells = parse_table(out, 'model')
    assert header == COLUMNS + ['ratio vs timm', 'ratio vs mmaction']
    assert out.index('Settings:') < out.index('Environment:') < \
        out.index('| model')
    names = [row[0] for row in cells]
    assert names == [bench.OURS, bench.OURS_CP,
                     f'{bench.OURS}, visible 50% (4 of 8)', bench.TIMM,
                     bench.MMACTION]
    for row in cells:
        values = dict(zip(header, row))
        assert float(values.pop('spread %')) == 0  # one round: no spread
        assert all(float(v) > 0 for k, v in values.items() if k != 'model')
    by_name = {row[0]: dict(zip(header, row)) for row in cells}
    assert float(by_name[bench.TIMM]['ratio vs timm']) == 1
    assert float(by_name[bench.MMACTION]['ratio vs mmaction']) == 1
    # 2 frames x (28 / 14)**2 = 8 patch tokens, 1 cls token.
    assert [int(row[1]) for row in cells] == [9, 9, 5, 9, 8]
    assert len(rows) == 5
    assert '+0 parameters vs ours' in out  # timm


def test_main_bfloat16_timm_only_without_cls_tokens(capsys):
    bench.main(TINY + ['--dtype', 'bfloat16', '--cls-tokens', '0',
                       '--references', 'timm', '--visible-ratio', '0'])
    out = capsys.readouterr().out
    header, cells = parse_table(out, 'model')
    assert header == COLUMNS + ['ratio vs timm']
    assert [row[0] for row in cells] == [bench.OURS, bench.OURS_CP,
                                         bench.TIMM]
    assert [int(row[1]) for row in cells] == [8, 8, 8]
    assert 'dtype=bfloat16' in out


@pytest.mark.parametrize('cls_tokens,tubelet', [(0, 1), (1, 1), (4, 2)])
def test_the_encoders_see_equal_token_counts(cls_tokens, tubelet):
    args = bench.parse_args(
        TINY[:2] + ['--frames', '4', '--img-size', '28', '--cls-tokens',
                    str(cls_tokens), '--tubelet', str(tubelet)])
    entries = bench.build_entries(args, torch.device('cpu'))
    seen = {e.name: bench.measure_tokens(e) for e in entries}
    patches = 4 // tubelet * 2 * 2
    visible = max(1, round(0.2 * patches))
    assert seen[bench.OURS] == seen[bench.TIMM] == cls_tokens + patches
    assert seen[bench.OURS_CP] == cls_tokens + patches
    assert seen[bench.MMACTION] == patches  # VideoMAE has no cls token
    visible_name = next(n for n in seen if 'visible' in n)
    assert seen[visible_name] == cls_tokens + visible
    for e in entries:
        assert seen[e.name] == e.tokens


@pytest.mark.parametrize('cls_tokens', [1, 4])
def test_the_parameter_counts_agree(cls_tokens):
    args = bench.parse_args(TINY + ['--cls-tokens', str(cls_tokens)])
    entries = bench.build_entries(args, torch.device('cpu'))
    counts = {e.name: bench.count_params(e.model) for e in entries}
    width, depth = 64, 2  # tiny
    assert counts[bench.TIMM] == counts[bench.OURS]
    # VideoMAE: no cls tokens nor their position rows, no k bias.
    assert counts[bench.OURS] - counts[bench.MMACTION] == \
        (2 * cls_tokens + depth) * width
    bench.check_param_counts(counts)


def test_check_param_counts_rejects_unlike_models():
    bench.check_param_counts({'a': 1000, 'b': 995})
    with pytest.raises(AssertionError, match=r'differ by more than 1\.0%.*'
                       r'a 1000, b 900'):
        bench.check_param_counts({'a': 1000, 'b': 900})


def test_training_flops_match_torch_flop_counter():
    """The analytic FLOPs equal what FlopCounterMode counts for one step
    (math attention, whose matrix products the counter sees), except with
    activation checkpointing, which recomputes the forward."""
    args = bench.parse_args(
        TINY[:2] + ['--frames', '4', '--img-size', '28', '--tubelet', '2',
                    '--cls-tokens', '2', '--visible-ratio', '0.5'])
    for entry in bench.build_entries(args, torch.device('cpu')):
        with sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as counter:
            bench.call(entry).float().mean().backward()
        expected = bench.training_flops(entry, args.arch)
        if entry.with_cp:
            assert counter.get_total_flops() > expected
        else:
            assert counter.get_total_flops() == expected, entry.name


def test_random_visible_indices():
    indices = bench.random_visible_indices(3, 10, 0.2)
    assert indices.shape == (3, 2) and indices.dtype == torch.int64
    for row in indices:
        assert row.tolist() == sorted(set(row.tolist()))
        assert 0 <= int(row.min()) and int(row.max()) < 10
    with pytest.raises(ValueError, match='ratio must be in'):
        bench.random_visible_indices(1, 10, 0.)


@pytest.mark.parametrize('argv,message', [
    (['--frames', '3', '--tubelet', '2'], r'--frames \(3\).*--tubelet \(2\)'),
    (['--img-size', '30'], r'--img-size \(30\).*--patch-size \(14\)'),
    (['--visible-ratio', '1'], r'--visible-ratio must be in \[0, 1\), got 1'),
    (['--cls-tokens', '-1'], r'--cls-tokens must be >= 0, got -1'),
    (['--arch', 'huge'], r"invalid choice: 'huge'"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert re.search(message, capsys.readouterr().err)
