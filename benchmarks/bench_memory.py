"""Peak memory of a Stage-1 / Stage-2 train step with and without activation
checkpointing.

Each variant runs in a fresh process (so that no allocator cache carries
over) that builds the model of ``bench_train_step.py`` (same ``--stage`` /
``--size`` / ``--batch`` / ``--amp``), runs one warm-up step and one measured
step, and reports:

* **saved for backward**: the bytes of the tensors autograd keeps from the
  forward for the backward (counted with ``saved_tensors_hooks``, each
  storage once) — the activation memory that checkpointing trades for
  recomputation; exact and the same on every device;
* **step peak**: on CUDA, ``torch.cuda.max_memory_allocated`` during the
  step minus the memory held before it (weights, gradients, optimizer
  state); on the CPU, the process's peak resident memory during the step
  (``VmHWM``, reset before the step) minus its resident memory before it;
* the step time, since checkpointing costs one more forward of each block.

With ``--teacher`` it measures instead the peak of one Stage-1 SigLIP
teacher forward (no grad) over the same clips, as the teacher runs it
(keeping the hidden states it returns) and as transformers'
``output_hidden_states`` would (keeping all of them), each in a fresh
process.

Examples::

    python benchmarks/bench_memory.py --stage 1 --size tiny
    python benchmarks/bench_memory.py --teacher --stage 1 --size base
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import environment, format_table  # noqa: E402

VARIANTS = {'plain': [], 'activation checkpointing': ['--with-cp']}
TEACHER_VARIANTS = {
    'all hidden states (output_hidden_states)': ['--teacher-states', 'all'],
    'returned hidden states only (SigLIPTeacher)': ['--teacher-states',
                                                    'returned'],
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--child', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--teacher', action='store_true',
                        help='measure a Stage-1 teacher forward keeping all '
                        'hidden states vs the returned ones (module doc)')
    parser.add_argument('--teacher-states', choices=('all', 'returned'),
                        default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    return args, rest


def _rss_bytes(field: str = 'VmRSS') -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'/proc/self/status has no {field}')


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS.
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


class SavedTensorBytes(torch.autograd.graph.saved_tensors_hooks):
    """Counts the bytes of the storages autograd saves for backward."""

    def __init__(self):
        self.storages = {}

        def pack(t):
            storage = t.untyped_storage()
            self.storages[(storage.device, storage.data_ptr())] = \
                storage.nbytes()
            return t

        super().__init__(pack, lambda t: t)

    @property
    def nbytes(self) -> int:
        return sum(self.storages.values())


def _peak_of(fn, device: torch.device) -> Dict[str, float]:
    """Peak memory of ``fn()`` over what is held before it (module doc),
    and its seconds."""
    from common import synchronize
    synchronize(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = _rss_bytes()
        _reset_peak_rss()
    start = time.perf_counter()
    fn()
    synchronize(device)
    seconds = time.perf_counter() - start
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        peak = _rss_bytes('VmHWM') - before
    return dict(peak=peak, before=before, seconds=seconds)


def child_teacher(argv: List[str], states: str) -> Dict[str, float]:
    """One Stage-1 teacher forward keeping ``states`` ('all' or 'returned')
    hidden states."""
    import bench_train_step as step_bench
    from common import setup
    from mmivnext.models.utils.hf_image import run_siglip_vision_model
    args = step_bench.parse_args(argv)
    if args.stage != 1:
        raise SystemExit('--teacher: the SigLIP teacher is Stage 1\'s')
    device = setup(args)
    from mmengine.logging import MMLogger
    from transformers.utils import logging as hf_logging
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    model, _, clips = step_bench.build(args, device)
    teacher = model.teacher

    @torch.no_grad()
    def forward():
        if states == 'returned':
            return teacher(clips)
        out = run_siglip_vision_model(teacher.vision_model,
                                      teacher.preprocess(clips),
                                      output_hidden_states=True)
        return [out.hidden_states[i] for i in teacher.layers]

    forward()  # warm-up: the memory-mapped weights become resident
    return dict(_peak_of(forward, device), saved=0)


def child(argv: List[str]) -> Dict[str, float]:
    """Measure one variant in this process (``argv`` as bench_train_step)."""
    import bench_train_step as step_bench
    from common import setup
    args = step_bench.parse_args(argv)
    device = setup(args)
    from mmengine.logging import MMLogger
    from transformers.utils import logging as hf_logging
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    model, optim_wrapper, clips = step_bench.build(args, device)
    model.train()

    def step(counter=None):
        with optim_wrapper.optim_context(model):
            if counter is None:
                losses = model(clips, mode='loss')
            else:
                with counter:
                    losses = model(clips, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    step()  # gradients and optimizer state now exist
    counter = SavedTensorBytes()
    return dict(_peak_of(lambda: step(counter), device), saved=counter.nbytes)


def main(argv: Optional[List[str]] = None) -> List[Dict[str, object]]:
    args, rest = parse_args(argv)
    if args.child:
        result = child_teacher(rest, args.teacher_states) \
            if args.teacher_states else child(rest)
        print('RESULT ' + json.dumps(result))
        return []
    rows = []
    variants = TEACHER_VARIANTS if args.teacher else VARIANTS
    for name, extra in variants.items():
        proc = subprocess.run(
            [sys.executable, osp.abspath(__file__), '--child', *rest, *extra],
            capture_output=True, text=True,
            env=dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536'))
        lines = [line for line in proc.stdout.splitlines()
                 if line.startswith('RESULT ')]
        if proc.returncode or not lines:
            raise RuntimeError(f'variant {name!r} failed (exit '
                               f'{proc.returncode}):\n{proc.stderr[-3000:]}')
        result = json.loads(lines[-1][len('RESULT '):])
        rows.append(dict(variant=name, **result))
    base = rows[0]
    if args.teacher:
        table = [{
            'variant': r['variant'],
            'forward peak MiB': r['peak'] / 2**20,
            'peak ratio': r['peak'] / base['peak'],
            'held before MiB': r['before'] / 2**20,
            'forward s': r['seconds'],
        } for r in rows]
        print(f'# Memory of one teacher forward: {" ".join(rest)}')
        print(f'# {environment()}')
        print(format_table(table))
        return table
    table = [{
        'variant': r['variant'],
        'saved for backward MiB': r['saved'] / 2**20,
        'ratio': r['saved'] / base['saved'],
        'step peak MiB': r['peak'] / 2**20,
        'peak ratio': r['peak'] / base['peak'],
        'held before step MiB': r['before'] / 2**20,
        'step s': r['seconds'],
        'time ratio': r['seconds'] / base['seconds'],
    } for r in rows]
    print(f'# Memory of one train step: {" ".join(rest) or "(defaults)"}')
    print(f'# {environment()}')
    print(format_table(table))
    return table


if __name__ == '__main__':
    main()
