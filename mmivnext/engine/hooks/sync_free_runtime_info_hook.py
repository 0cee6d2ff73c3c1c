"""Runtime info hook that reads the step's scalars on the host only when they
are logged."""
import math
from collections import defaultdict
from typing import Dict, List, Optional

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook
from mmengine.optim import OptimWrapperDict
from torch import Tensor

from mmivnext.registry import HOOKS


def _optim_wrappers(runner) -> List:
    wrapper = getattr(runner, 'optim_wrapper', None)
    if isinstance(wrapper, OptimWrapperDict):
        return list(wrapper.values())
    return [] if wrapper is None else [wrapper]


@HOOKS.register_module()
class SyncFreeRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` without a host-device synchronisation per step.

    MMEngine's ``RuntimeInfoHook`` puts every value of the model's
    ``log_vars`` into the message hub after every iteration, which calls
    ``.item()`` on each loss tensor; ``OptimWrapper`` does the same with the
    gradient norm. Each such read makes the host wait until the GPU has
    finished the step, so the host cannot queue the next one meanwhile.

    This hook keeps the per-iteration values as device tensors and moves
    them to the host in one transfer every ``interval`` iterations (and at
    the end of an epoch, before checkpoints, validation and the end of
    training), then writes them into the message hub iteration by iteration:
    the logged history (and so every logged window mean) is identical to
    ``RuntimeInfoHook``'s. The gradient norm is collected from optimizer
    wrappers with :class:`~mmivnext.engine.optimizers.DeferredGradNormMixin`
    (``mmivnext.SyncFreeOptimWrapper``, ``mmivnext.AnyDeviceAmpOptimWrapper``);
    other wrappers keep logging it themselves.

    **Non-finite losses stop the run** (``check_finite=True``): when the
    values are read, a NaN or infinite loss (every key containing ``'loss'``)
    raises a ``FloatingPointError`` naming the iteration and the key. (Not the
    gradient norm: under fp16 loss scaling an infinite norm is normal, the
    step is skipped and the scale lowered.) The check costs no extra synchronisation: it runs on the values
    read for logging, so a bad value is found at most ``interval`` iterations
    late. Values are also read before every checkpoint and at the end of each
    epoch, so no checkpoint is written after a non-finite loss and the good
    checkpoints already written are kept.

    Args:
        interval (int, optional): Iterations between host transfers. Defaults
            to the ``LoggerHook``'s interval, so that values are read exactly
            when they are logged; 50 if the runner has no ``LoggerHook``.
        check_finite (bool): Stop the run on a non-finite loss. Defaults to
            True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 interval: Optional[int] = None,
                 check_finite: bool = True) -> None:
        if interval is not None and (not isinstance(interval, int)
                                     or interval < 1):
            raise ValueError(f'interval must be a positive int, got '
                             f'{interval!r}')
        self.interval = interval
        self.check_finite = check_finite
        self._pending: List[Dict[str, Tensor]] = []
        self._pending_iters: List[int] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 50
        for wrapper in _optim_wrappers(runner):
            if hasattr(wrapper, 'pop_deferred_scalars'):
                wrapper.defer_scalars = True

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        values = {}
        for key, value in (outputs or {}).items():
            values[f'train/{key}'] = value.detach() if torch.is_tensor(
                value) else value
        for wrapper in _optim_wrappers(runner):
            if hasattr(wrapper, 'pop_deferred_scalars'):
                values.update(wrapper.pop_deferred_scalars())
        self._pending.append(values)
        self._pending_iters.append(runner.iter)
        end_of_epoch = batch_idx + 1 == len(runner.train_dataloader)
        if (batch_idx + 1) % self.interval == 0 or \
                (runner.iter + 1) % self.interval == 0 or end_of_epoch:
            self.flush(runner)

    def flush(self, runner) -> None:
        """Write the pending values into the message hub, in iteration order,
        reading all device tensors with one transfer per device."""
        if not self._pending:
            return
        tensors = defaultdict(list)  # device -> 0-dim tensors
        for values in self._pending:
            for key, value in values.items():
                if torch.is_tensor(value):
                    if value.numel() != 1:
                        raise ValueError(
                            f'{key}: logged values must have one element, got '
                            f'shape {tuple(value.shape)}')
                    tensors[value.device].append(value)
        host = {device: iter(torch.stack(
            [t.reshape(()).float() for t in items]).tolist())
            for device, items in tensors.items()}
        read = [{key: next(host[value.device]) if torch.is_tensor(value)
                 else value for key, value in values.items()}
                for values in self._pending]
        iters, self._pending, self._pending_iters = \
            self._pending_iters, [], []
        if self.check_finite:
            self._check_finite(read, iters, runner)
        for values in read:
            for key, value in values.items():
                runner.message_hub.update_scalar(key, value)

    @staticmethod
    def _check_finite(read: List[dict], iters: List[int], runner) -> None:
        """Raise on the first non-finite loss."""
        for values, it in zip(read, iters):
            for key, value in values.items():
                name = key.rsplit('/', 1)[-1]
                if 'loss' in name and isinstance(
                        value, (int, float)) and not math.isfinite(value):
                    raise FloatingPointError(
                        f'{key} is {value} at iteration {it + 1} (epoch '
                        f'{runner.epoch + 1}): training stopped; no '
                        'checkpoint was written after it and the earlier ones '
                        'are kept. Lower the learning rate or enable gradient '
                        'clipping, then resume from the last checkpoint.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._pending:
            self.flush(runner)
            if 'message_hub' in checkpoint:
                checkpoint['message_hub'] = runner.message_hub.state_dict()

    def after_train_epoch(self, runner) -> None:
        self.flush(runner)

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)
