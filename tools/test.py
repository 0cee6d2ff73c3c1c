"""Evaluate a checkpoint with the config's test loop and write its metrics.

The checkpoint loads strictly: a key the model has and the checkpoint lacks
(e.g. a head trained elsewhere), a key the checkpoint has and the model lacks,
or a shape that differs raises :class:`CheckpointMismatchError`, naming the
file and the keys, before anything is evaluated or written. ``--non-strict``
loads what matches and logs a warning instead.

Examples::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json]
    tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import functools
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Mapping, Sequence, Tuple

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import torch
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from torch.nn.modules.module import _IncompatibleKeys

from mmivnext.engine.runner import build_runner
from mmivnext.utils.checkpoint_io import (CheckpointLoadError,
                                          atomic_write_text,
                                          load_state_dict_file)
from mmivnext.utils.compat import init_cpu_distributed

#: How many keys of each kind an error or warning lists.
MAX_LISTED_KEYS = 10


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's weights do not match the model; the message names the
    file and the keys."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='JSON file for the metrics (default: <work-dir>/metrics.json)')
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help='load the checkpoint even if its keys or shapes do not match the '
        'model, with a warning listing them (by default that is an error). '
        'Weights the checkpoint lacks then keep the values the model is built '
        'with (random for most layers: init_cfg / pretrained weights are not '
        'loaded at test time), so the metrics may mean nothing')
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


def load_state_dict_with_report(
        model: torch.nn.Module,
        state_dict: Mapping) -> Tuple[List[str], List[str], List[str]]:
    """Load ``state_dict`` into ``model`` as MMEngine's ``load_state_dict``
    does (the same module walk, load-state-dict pre- and post-hooks, model
    wrappers inside the model unwrapped, BN ``num_batches_tracked`` never
    counted missing) and say what did not match instead of only logging it.

    Entries that match are loaded whatever else does not.

    Returns:
        tuple: ``(missing, unexpected, errors)``: keys of the model the state
        dict lacks, keys of the state dict the model lacks, and the other
        errors (shape mismatches) as PyTorch words them.
    """
    missing: List[str] = []
    unexpected: List[str] = []
    errors: List[str] = []
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata

    def load(module, local_state_dict, prefix=''):
        if is_model_wrapper(module) or isinstance(module, BaseTTAModel):
            module = module.module
        local_metadata = {} if metadata is None else metadata.get(
            prefix[:-1], {})
        module._load_from_state_dict(local_state_dict, prefix, local_metadata,
                                     True, missing, unexpected, errors)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = prefix + name + '.'
                load(child, {k: v for k, v in local_state_dict.items()
                             if k.startswith(child_prefix)}, child_prefix)
        incompatible = _IncompatibleKeys(missing, unexpected)
        for hook in module._load_state_dict_post_hooks.values():
            hook(module, incompatible)

    load(model, state_dict)
    missing = [key for key in missing if 'num_batches_tracked' not in key]
    return missing, unexpected, errors


def _listed(items: Sequence[str], sep: str = ', ') -> str:
    shown = sep.join(items[:MAX_LISTED_KEYS])
    if len(items) > MAX_LISTED_KEYS:
        shown += f'{sep}... ({len(items) - MAX_LISTED_KEYS} more)'
    return shown


def describe_mismatch(missing: Sequence[str], unexpected: Sequence[str],
                      errors: Sequence[str]) -> str:
    """Lines listing the first :data:`MAX_LISTED_KEYS` keys of each kind,
    with their counts."""
    lines = []
    if missing:
        lines.append(f'  {len(missing)} missing key(s) (in the model, not in '
                     f'the checkpoint): {_listed(missing)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} unexpected key(s) (in the '
                     f'checkpoint, not in the model): {_listed(unexpected)}')
    if errors:
        lines.append(f'  {len(errors)} other error(s):\n    '
                     + _listed(errors, '\n    '))
    return '\n'.join(lines)


def load_checkpoint_checked(runner: Runner, filename: str, config: str,
                            strict: bool = True,
                            map_location='cpu') -> dict:
    """``Runner.load_checkpoint``, strict by default, with errors that name
    the file and the keys.

    As MMEngine's: reads the file (weights-only,
    :func:`mmivnext.utils.checkpoint_io.load_state_dict_file`), runs the
    ``after_load_checkpoint`` hooks, strips a ``module.`` prefix (DDP) and
    loads the ``state_dict`` entry (or the whole file) into the unwrapped
    model.

    Raises:
        CheckpointMismatchError: ``strict`` and the checkpoint's keys or
            shapes do not match the model's. Every rank raises, so no rank
            waits for the others in the test loop.
    """
    checkpoint = load_state_dict_file(filename, map_location=map_location)
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    state_dict = checkpoint['state_dict'] if 'state_dict' in checkpoint \
        else checkpoint
    if not isinstance(state_dict, Mapping):
        raise CheckpointLoadError(
            f'{filename}: its state_dict is a {type(state_dict).__name__}, '
            f'not a dict of weights')
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(
        (re.sub(r'^module\.', '', key), value)
        for key, value in state_dict.items())
    if metadata is not None:
        state_dict._metadata = metadata

    try:
        missing, unexpected, errors = load_state_dict_with_report(
            model, state_dict)
    except (RuntimeError, ValueError) as e:  # e.g. a load pre-hook's check
        raise CheckpointMismatchError(
            f'{filename} does not load into the model of {config}: '
            f'{type(e).__name__}: {e}') from e
    if missing or unexpected or errors:
        report = describe_mismatch(missing, unexpected, errors)
        if strict:
            raise CheckpointMismatchError(
                f'{filename} does not match the model of {config} '
                f'(tools/test.py loads checkpoints strictly):\n{report}\n'
                'Nothing was evaluated. Check that the checkpoint comes from '
                'this config; to evaluate it anyway, with the weights it '
                'lacks left as the model is built, pass --non-strict.')
        runner.logger.warning(
            f'{filename} does not match the model of {config}; loaded '
            f'non-strictly (--non-strict):\n{report}\nWeights the checkpoint '
            'lacks keep the values the model is built with.')
    runner.logger.info(f'Load checkpoint from {filename}')
    return checkpoint


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
    cfg.resume = False
    init_cpu_distributed(cfg)

    runner = build_runner(cfg)
    strict = not args.non_strict
    if isinstance(runner, Runner):
        # The runner still loads where it always does (in test(), after the
        # before_run hooks, once), but through the checked loader.
        runner.load_checkpoint = functools.partial(
            load_checkpoint_checked, runner, config=args.config,
            strict=strict)
    else:
        # A FlexibleRunner loads through its strategy (FSDP, DeepSpeed):
        # MMEngine's own strict check, whose error lists the keys.
        runner.load_checkpoint = functools.partial(runner.load_checkpoint,
                                                   strict=strict)
    metrics = runner.test()
    if is_main_process():
        out = args.out or osp.join(cfg.work_dir, 'metrics.json')
        atomic_write_text(
            json.dumps(
                dict(config=args.config, checkpoint=args.checkpoint,
                     strict=strict,
                     metrics={k: _to_json(v) for k, v in metrics.items()}),
                indent=2), out)
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
