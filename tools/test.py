"""Evaluate a checkpoint with the config's test loop and write its metrics.

Examples::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json]
    tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import json
import os
import os.path as osp

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import torch
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from mmivnext.registry import RUNNERS
from mmivnext.utils.compat import init_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='JSON file for the metrics (default: <work-dir>/metrics.json)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _to_json(value):
    """Metric values as JSON numbers where they are numbers."""
    if hasattr(value, 'tolist'):
        value = value.tolist()
    return float(value) if isinstance(value, (int, float)) else value


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    init_cpu_distributed(cfg)

    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(
        cfg)
    metrics = runner.test()
    if is_main_process():
        out = args.out or osp.join(cfg.work_dir, 'metrics.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(
                dict(config=args.config, checkpoint=args.checkpoint,
                     metrics={k: _to_json(v) for k, v in metrics.items()}),
                f, indent=2)
        width = max((len(k) for k in metrics), default=0)
        for key, value in metrics.items():
            value = _to_json(value)
            text = f'{value:.4f}' if isinstance(value, float) else value
            print(f'{key:<{width}}  {text}')
        print(f'metrics written to {out}')
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
