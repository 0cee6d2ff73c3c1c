"""Train a probe config's head on cached frozen-encoder features, for several
seeds and learning rates, and report top-1 / top-5 as mean ± std.

Examples::

    # the demo probe (tools/demo.sh; the one config in configs/probes/demo/),
    # seeds 0 1 2 at the config's lr
    python tools/probe_sweep.py configs/probes/demo/*.py \\
        --work-dir work_dirs/probe_sweep/demo
    # a random encoder (drawn once, with --encoder-seed), five seeds, two lrs,
    # four cached augmentations of the train set
    python tools/probe_sweep.py CONFIG --work-dir DIR --seeds 0 1 2 3 4 \\
        --lrs 1e-3 3e-4 --views 4 --cfg-options model.backbone.init_cfg=None

The terminal shows one progress bar per feature pass, one over the runs and a
table (per lr: top-1 and top-5 in %, mean ± std over the seeds, the number of
seeds and of val clips). ``DIR/probe_sweep.json`` (written atomically) holds:
``config``, ``name``, ``encoder_checkpoint`` (the backbone's ``Pretrained``
checkpoint, or None for a random encoder), ``encoder_seed``, ``seeds``,
``lrs``, ``views``, ``num_train``, ``num_val``, ``max_epochs``,
``batch_size``, ``iters_per_epoch``, ``std`` (what the std is), ``runs``
(one per (lr, seed): ``lr``, ``seed``, ``top1``, ``top5``, ``train_loss``)
and ``summary`` (one per lr: ``lr``, ``num_seeds``, ``top1_mean``,
``top1_std``, ``top5_mean``, ``top5_std``). Accuracies are fractions in
``[0, 1]``, as mmaction2's ``AccMetric``; ``train_loss`` is the mean loss of
the last epoch; the std is the *population* std over the seeds (``ddof=0``;
0 for one seed). ``DIR/probe_sweep.log`` has the full log (model building,
optimizer groups, the loss and lr of every epoch of every run).

The sweep itself (what is cached, how each head is trained exactly as
``tools/train.py`` would train it over the frozen encoder, the seeds and the
limits) is :mod:`mmivnext.apis.probe_sweep`.
"""
import argparse
import json
import logging
import os
import os.path as osp
import time
from typing import Tuple

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger, print_log

from mmivnext.apis.probe_sweep import (SweepError, check_sweep_args,
                                       format_table, get_value, load_config,
                                       run_sweep)
from mmivnext.utils.checkpoint_io import atomic_write

#: File names written under ``--work-dir``.
JSON_NAME = 'probe_sweep.json'
LOG_NAME = 'probe_sweep.log'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a probe config's head on cached frozen-encoder "
        'features for several seeds and lrs; report mean ± std')
    parser.add_argument('config', help='probe config file path')
    parser.add_argument(
        '--work-dir', required=True,
        help=f'folder for {JSON_NAME} and {LOG_NAME}')
    parser.add_argument(
        '--seeds', type=int, nargs='*', default=[0, 1, 2],
        help='head seeds (initialisation, shuffling, dropout); default 0 1 2')
    parser.add_argument(
        '--lrs', type=float, nargs='*', default=None,
        help="learning rates (optim_wrapper.optimizer.lr); default: the "
        "config's")
    parser.add_argument(
        '--views', type=int, default=1,
        help='passes of the train pipeline to cache (epoch e trains on view '
        'e %% views); default 1')
    parser.add_argument(
        '--encoder-seed', type=int, default=0,
        help='seed of what is cached: a random encoder and the views\' '
        'augmentations; default 0')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device of the encoder and the heads; default cuda if available')
    parser.add_argument(
        '--name', help="the sweep's name in the JSON; default: the config's "
        'file name')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.backbone.init_cfg=None')
    return parser.parse_args(argv)



def _file_logger(work_dir: str) -> Tuple[MMLogger, logging.Handler]:
    """A new current MMEngine logger writing INFO to ``work_dir/LOG_NAME``
    and only warnings and errors to the terminal."""
    os.makedirs(work_dir, exist_ok=True)
    logger = MMLogger.get_instance(
        f'probe_sweep_{time.time_ns()}', logger_name='probe_sweep',
        log_file=osp.join(work_dir, LOG_NAME), log_level='INFO')
    file_handler = None
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            file_handler = handler
        elif isinstance(handler, logging.StreamHandler):
            handler.setLevel(logging.WARNING)
    return logger, file_handler


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        lrs = args.lrs
        if lrs is None:
            if get_value(cfg, 'optim_wrapper.optimizer.lr') is None:
                raise SweepError(f'{args.config}: no '
                                 '`optim_wrapper.optimizer.lr`; pass --lrs')
            lrs = [float(cfg.optim_wrapper.optimizer.lr)]
        check_sweep_args(args.seeds, lrs, args.views)
    except SweepError as error:
        raise SystemExit(str(error)) from None
    name = args.name or osp.splitext(osp.basename(args.config))[0]

    logger, file_handler = _file_logger(args.work_dir)
    try:
        print_log(f'probe_sweep {name}: {args.config}, seeds {args.seeds}, '
                  f'lrs {lrs}, views {args.views}, encoder seed '
                  f'{args.encoder_seed}, device {args.device}\n'
                  f'Config:\n{cfg.pretty_text}', logger=logger)
        try:
            sweep = run_sweep(cfg, args.seeds, lrs, views=args.views,
                              encoder_seed=args.encoder_seed,
                              device=args.device)
        except SweepError as error:
            raise SystemExit(str(error)) from None
        result = dict(config=args.config, name=name, **sweep)
        out = osp.join(args.work_dir, JSON_NAME)
        with atomic_write(out, 'w') as f:
            json.dump(result, f, indent=2)
        table = format_table(result['summary'], result['num_val'])
        print_log(f'\n{table}\nwritten to {out}', logger=logger)
    finally:
        if file_handler is not None:
            file_handler.close()
            logger.removeHandler(file_handler)
    print(f'{name}: {result["num_train"]} train clips x {args.views} '
          f'view(s), {result["max_epochs"]} epochs; mean ± std (population) '
          f'over seeds')
    print(table)
    print(f'results: {out}\nlog: {osp.join(args.work_dir, LOG_NAME)}')
    return result


if __name__ == '__main__':
    main()
