"""Train a model from an MMEngine config.

Examples::

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
    tools/dist_train.sh CONFIG 8            # one node, 8 processes (torchrun)
    tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR

Runs build ``mmivnext.Runner`` (``mmivnext.FlexibleRunner`` for a config with
a ``strategy``: ``mmivnext.AnyDeviceFSDPStrategy``, ``DeepSpeedStrategy``,
MMEngine's ``DDPStrategy``; see ``docs/scale_out.md``): MMEngine's runners with
atomic checkpoints, auto-resume from the newest complete checkpoint, exact
resume of every random state and no code run from checkpoints
(``mmivnext/engine/runner.py``). On machines without CUDA,
distributed runs use the gloo backend (see
``mmivnext.utils.compat.init_cpu_distributed``).
"""
import argparse
import importlib.util
import os
import os.path as osp
from typing import Optional

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from mmivnext.engine.runner import build_runner
from mmivnext.utils.compat import init_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision (fp16/bf16 autocast on GPU; bf16 on CPU, slow)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT; without a path, from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual batch size over '
        '`auto_scale_lr.base_batch_size`')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torchrun passes LOCAL_RANK in the environment; older launchers pass
    # --local-rank on the command line.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


#: Strategies that shard the parameters (FSDP, ZeRO-3) or cast the whole
#: module to bf16/fp16 (DeepSpeed's precision modes): TeacherEMAHook averages
#: the student's full fp32 weights, which these do not keep on every rank.
SHARDING_STRATEGIES = ('AnyDeviceFSDPStrategy', 'DeepSpeedStrategy',
                       'ColossalAIStrategy')


def strategy_name(cfg: Config) -> Optional[str]:
    """The class name (without scope) of the config's ``strategy``, or None.

    Raises:
        TypeError: ``strategy`` is not a dict with a ``type``.
    """
    strategy = cfg.get('strategy', None)
    if strategy is None:
        return None
    if not isinstance(strategy, dict) or 'type' not in strategy:
        raise TypeError(f'`strategy` must be a dict with a `type`, got '
                        f'{strategy!r}')
    strategy_type = strategy['type']
    if not isinstance(strategy_type, str):
        return strategy_type.__name__
    return strategy_type.rsplit('.', 1)[-1]


def merge_strategy(cfg: Config, args) -> None:
    """Check a config with a ``strategy`` and make it a ``FlexibleRunner`` run.

    Raises a ValueError (or an ImportError for a missing DeepSpeed) that
    names the problem for: another ``runner_type``; MMEngine's own
    ``FSDPStrategy`` (use ``mmivnext.AnyDeviceFSDPStrategy``); a distributed
    strategy without a distributed launcher; ``TeacherEMAHook`` with a
    sharding strategy; ``--amp`` with DeepSpeed (whose precision is the
    strategy's ``bf16`` / ``fp16``).
    """
    name = strategy_name(cfg)
    if name is None:
        return
    runner_type = cfg.get('runner_type', 'FlexibleRunner')
    if not isinstance(runner_type, str) or \
            runner_type.rsplit('.', 1)[-1] != 'FlexibleRunner':
        raise ValueError(f'`strategy` ({name}) runs with '
                         f"runner_type='FlexibleRunner', got runner_type="
                         f'{runner_type!r}.')
    cfg.runner_type = 'FlexibleRunner'
    if name == 'FSDPStrategy':
        raise ValueError(
            "MMEngine's FSDPStrategy is not supported: it leaves mmivnext's "
            'frozen teachers on the CPU, clips gradient norms per shard and '
            "needs CUDA. Use type='mmivnext.AnyDeviceFSDPStrategy' (the same "
            'arguments, plus wrap_modules / checkpoint_modules); see '
            'docs/scale_out.md.')
    if args.launcher == 'none' and name != 'SingleDeviceStrategy':
        raise ValueError(
            f'{name} needs a distributed launch, also for one process: '
            'tools/dist_train.sh CONFIG NUM_PROCS (or --launcher pytorch / '
            'slurm).')
    hooks = [h.get('type') for h in cfg.get('custom_hooks', None) or []
             if isinstance(h, dict)]
    if name in SHARDING_STRATEGIES and any(
            isinstance(t, str) and t.rsplit('.', 1)[-1] == 'TeacherEMAHook'
            for t in hooks):
        raise ValueError(
            f'TeacherEMAHook does not work with {name}: the EMA reads the '
            "student's full fp32 weights, which are sharded (FSDP, ZeRO-3) or "
            'cast to 16 bits (DeepSpeed bf16/fp16) there. Train the EMA '
            'variant with DDP (tools/dist_train.sh without a `strategy`).')
    if name == 'DeepSpeedStrategy':
        if importlib.util.find_spec('deepspeed') is None:
            raise ImportError(
                'DeepSpeedStrategy needs DeepSpeed, which mmivnext does not '
                'require (GPU only): pip install deepspeed.')
        if args.amp:
            raise ValueError(
                '--amp does not apply to DeepSpeedStrategy: its precision is '
                'the strategy\'s bf16=dict(enabled=True) or fp16=dict('
                'enabled=True).')


def merge_args(cfg: Config, args) -> Config:
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    merge_strategy(cfg, args)
    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper',
                                'mmivnext.SyncFreeOptimWrapper',
                                'SyncFreeOptimWrapper',
                                'mmivnext.AnyDeviceAmpOptimWrapper',
                                'AnyDeviceAmpOptimWrapper'):
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper, got '
                f'{wrapper_type!r}; set the AMP wrapper in the config.')
        cfg.optim_wrapper.type = 'mmivnext.AnyDeviceAmpOptimWrapper'
        if strategy_name(cfg) == 'AnyDeviceFSDPStrategy':
            # FSDP's sharded gradient scaler (fp16 on accelerators).
            cfg.optim_wrapper.use_fsdp = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr', None):
            raise KeyError('--auto-scale-lr needs `auto_scale_lr = '
                           'dict(base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    if init_cpu_distributed(cfg):
        print_log('No CUDA device: distributed training on CPU with gloo.',
                  logger='current')
    runner = build_runner(cfg)
    runner.train()
    # Leave the process group before exiting, so that no rank tears down a
    # communicator that another rank still uses.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
