"""Cost of a RepresentationMonitorHook check against the train steps it
follows.

Builds the Stage-1 or Stage-2 algorithm and its optimizer as
``bench_train_step.py`` does (``--size tiny``: the demo configs), times a
plain train step (forward, backward, AdamW) on random clips, then a
:meth:`~mmivnext.engine.hooks.RepresentationMonitorHook.measure` of the same
model on ``--num-samples`` random uint8 clips of the same size (up to 12
classes; the data pipeline is not timed: the hook decodes its clips once,
before training). Steps and checks alternate (one of each per round); the
table gives both medians and the overhead of checking every ``--interval``
steps: ``check / (interval x step)``.

Examples::

    python benchmarks/bench_monitor_hook.py --stage 1 --size tiny \\
        --num-samples 96 --interval 40
    python benchmarks/bench_monitor_hook.py --stage 1 --size base --batch 32 \\
        --amp --device cuda --num-samples 256 --interval 500
"""
import argparse
import os.path as osp
import sys
import tempfile
from typing import Dict

import mmivnext  # noqa: F401  (applies the upstream fixes first)
import torch
from mmaction.structures import ActionDataSample
from mmengine.logging import MMLogger
from transformers.utils import logging as hf_logging

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import bench_train_step  # noqa: E402
from common import (add_common_args, environment, format_table,  # noqa: E402
                    median, setup, time_fn)

from mmivnext.engine.hooks import RepresentationMonitorHook  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--stage', type=int, choices=(1, 2), default=1)
    parser.add_argument('--size', choices=('tiny', 'base', 'large'),
                        default='tiny')
    parser.add_argument('--batch', type=int, default=None,
                        help='train clips per step (default: 8 tiny, 1 else)')
    parser.add_argument('--amp', action='store_true',
                        help='bf16 autocast for the train step')
    parser.add_argument('--num-samples', type=int, default=96,
                        help="the hook's num_samples (default: %(default)s)")
    parser.add_argument('--monitor-batch', type=int, default=16,
                        help="the hook's batch_size (default: %(default)s)")
    parser.add_argument('--probe-steps', type=int, default=100,
                        help="the hook's probe_steps (default: %(default)s)")
    parser.add_argument('--interval', type=int, default=40,
                        help="the hook's interval (default: %(default)s)")
    parser.add_argument('--cache-dir', default=None,
                        help='random teacher / predictor checkpoints '
                        '(default: a temporary folder)')
    add_common_args(parser)
    return parser.parse_args(argv)


def random_samples(num: int, clip_shape) -> list:
    """``num`` packed samples of random uint8 clips ``[1, C, T, H, W]``,
    labels ``i % K`` with ``K = min(12, num // 2)`` (two or more per
    class)."""
    num_classes = min(12, num // 2)
    generator = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randint(0, 256, (1, *clip_shape),
                                      generator=generator,
                                      dtype=torch.uint8),
                 data_samples=ActionDataSample().set_gt_label(i % num_classes))
            for i in range(num)]


def run(args) -> Dict[str, object]:
    device = setup(args)
    # Keep the table readable: no init logs, no progress bars.
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    build_args = argparse.Namespace(
        stage=args.stage, size=args.size, batch=args.batch, amp=args.amp,
        cache_dir=args.cache_dir or tempfile.mkdtemp(), with_cp=False,
        compile=False, sdpa_backends=None, flops_only=False)
    model, optim_wrapper, clips = bench_train_step.build(build_args, device)
    model.train()

    def train_step():
        with optim_wrapper.optim_context(model):
            losses = model(clips, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    hook = RepresentationMonitorHook(
        dataset=dict(), interval=args.interval, num_samples=args.num_samples,
        batch_size=args.monitor_batch, probe_steps=args.probe_steps)
    hook.cache(random_samples(args.num_samples, clips.shape[1:]))
    # Interleaved, one step then one check, so that a load that comes and
    # goes on the machine weighs on both alike.
    step_times, check_times = [], []
    for _ in range(args.warmup + args.iters):
        step_times += time_fn(train_step, device, 0, 1)
        check_times += time_fn(lambda: hook.measure(model), device, 0, 1)
    step = median(step_times[args.warmup:])
    check = median(check_times[args.warmup:])
    rows = [
        dict(what=f'train step ({clips.shape[0]} clips)', ms=step * 1e3,
             ratio=1.0),
        dict(what=f'monitor check ({args.num_samples} clips, '
             f'{args.probe_steps} probe steps)', ms=check * 1e3,
             ratio=check / step),
        dict(what=f'overhead, a check every {args.interval} steps',
             ms=float('nan'), ratio=check / (args.interval * step)),
    ]
    return dict(rows=rows, step_s=step, check_s=check,
                overhead=check / (args.interval * step))


def main(argv=None) -> Dict[str, object]:
    args = parse_args(argv)
    result = run(args)
    print(f'# RepresentationMonitorHook cost, Stage {args.stage} '
          f'{args.size}, {args.device} ({environment()}); medians of '
          f'{args.iters} after {args.warmup} warmup')
    print(format_table(result['rows']))
    return result


if __name__ == '__main__':
    main()
