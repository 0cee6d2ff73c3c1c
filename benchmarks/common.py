"""Shared helpers of the benchmark scripts: devices, timing, peaks, tables.

Every script in ``benchmarks/`` measures its subject and a reference in the
same process and prints a table with ratios against the reference, so that the
figures compare like with like on whatever machine runs them.
"""
import argparse
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
          'float16': torch.float16}


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--device``, ``--warmup``, ``--iters``, ``--threads``, ``--seed``,
    ``--peak-size``."""
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu',
                        help='cpu, cuda or cuda:N (default: cuda if present)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations before measuring')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations (the table shows the median)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--peak-size', type=int, default=2048,
                        help='side of the square torch.mm timed as the '
                        'matmul peak (smaller for quick checks: a bf16 '
                        '2048^3 product takes about a minute on CPUs '
                        'without bf16 instructions)')


def setup(args) -> torch.device:
    """Apply ``--threads`` / ``--seed`` and return the device."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: CUDA is not available')
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], object], device: torch.device, warmup: int,
            iters: int) -> List[float]:
    """Seconds per call of ``fn`` over ``iters`` timed calls after ``warmup``.

    The device is synchronised before and after each timed call, so each
    figure is the wall time of one complete call.
    """
    if iters < 1:
        raise ValueError(f'iters must be >= 1, got {iters}')
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32,
                size: int = 2048, iters: int = 10) -> float:
    """Achieved FLOP/s of a square ``torch.mm`` of ``size`` on ``device``.

    The reference for model FLOP utilisation: the best of ``iters`` timed
    products of two ``size x size`` matrices, counted as ``2 * size**3``.
    """
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    times = time_fn(lambda: torch.mm(a, b), device, warmup=2, iters=iters)
    return 2 * size**3 / min(times)


def environment() -> str:
    """One line naming the machine, the threads and the library versions."""
    if torch.cuda.is_available():
        hw = torch.cuda.get_device_name(0)
    else:
        hw = f'{platform.processor() or platform.machine()} CPU, ' \
             f'{os.cpu_count()} cores'
    return (f'{hw}; torch {torch.__version__}, '
            f'{torch.get_num_threads()} CPU threads')


def format_table(rows: List[Dict[str, object]],
                 columns: Optional[Sequence[str]] = None) -> str:
    """A Markdown table of ``rows`` (dicts), floats with 3 significant digits."""
    if not rows:
        raise ValueError('no rows to print')
    columns = list(columns or rows[0].keys())

    def fmt(value):
        if isinstance(value, float):
            if value != value:  # nan
                return ''
            if abs(value) >= 1e7:
                return f'{value:.3e}'
            return f'{value:.0f}' if abs(value) >= 1000 else f'{value:.3g}'
        return str(value)

    cells = [[fmt(row.get(c, '')) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells))
              for i, c in enumerate(columns)]
    lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(columns, widths))
             + ' |',
             '| ' + ' | '.join('-' * w for w in widths) + ' |']
    lines += ['| ' + ' | '.join(v.ljust(w) for v, w in zip(r, widths)) + ' |'
              for r in cells]
    return '\n'.join(lines)
