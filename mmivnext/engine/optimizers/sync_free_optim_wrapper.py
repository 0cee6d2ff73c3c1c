"""Optimizer wrappers that keep the per-step gradient norm on the device."""
from typing import Dict, List

import torch
from mmengine.optim import OptimWrapper
from torch import Tensor

from mmivnext.registry import OPTIM_WRAPPERS


class DeferredGradNormMixin:
    """Hold the clipped gradient norm as a device tensor instead of
    ``float()``-ing it every step.

    MMEngine's ``OptimWrapper._clip_grad`` logs ``float(grad_norm)`` after
    every clipping step: a host read that waits for the backward pass and the
    clipping kernels, so the host cannot queue the next step ahead of the GPU.
    When :class:`~mmivnext.engine.hooks.SyncFreeRuntimeInfoHook` switches
    :attr:`defer_scalars` on, the norm is kept on the device and handed to
    the hook (:meth:`pop_deferred_scalars`), which reads it together with the
    losses at the logging iterations only. Without the hook the wrapper logs
    every step, exactly like MMEngine's.
    """

    defer_scalars: bool = False

    def _clip_grad(self) -> None:
        """Clip the gradients; keep (or log) the norm ``clip_func`` returns."""
        params: List[Tensor] = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad and p.grad is not None
        ]
        if not params:
            return
        norm = self.clip_func(params, **self.clip_grad_kwargs)
        if norm is None:  # clip_grad_value_ returns nothing
            return
        key = f'train/{self.grad_name}'
        if self.defer_scalars:
            self._deferred_scalars()[key] = norm.detach()
        else:
            self.message_hub.update_scalar(key, float(norm))

    def _deferred_scalars(self) -> Dict[str, Tensor]:
        if '_pending_scalars' not in self.__dict__:
            self._pending_scalars = {}
        return self._pending_scalars

    def pop_deferred_scalars(self) -> Dict[str, Tensor]:
        """The scalars kept since the last call, as ``{message hub key:
        0-dim device tensor}``; the wrapper forgets them."""
        pending = self._deferred_scalars()
        self._pending_scalars = {}
        return pending


@OPTIM_WRAPPERS.register_module()
class SyncFreeOptimWrapper(DeferredGradNormMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` without the host-device synchronisation of
    its gradient-norm logging (see :class:`DeferredGradNormMixin`).

    Takes exactly ``OptimWrapper``'s arguments (``optimizer``,
    ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 accumulative_counts: int = 1,
                 clip_grad: dict = None) -> None:
        super().__init__(optimizer=optimizer,
                         accumulative_counts=accumulative_counts,
                         clip_grad=clip_grad)
