"""Mixed-precision optimizer wrapper that also builds on CPU-only machines."""
from typing import Optional, Union

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmivnext.registry import OPTIM_WRAPPERS
from .sync_free_optim_wrapper import DeferredGradNormMixin


def _has_accelerator() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class AnyDeviceAmpOptimWrapper(DeferredGradNormMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` that also works without an accelerator.

    Why (see :mod:`mmivnext.utils.compat`): MMEngine 0.10's ``AmpOptimWrapper``
    asserts that CUDA/NPU/MLU/MUSA is available, so ``tools/train.py --amp``
    cannot even build on a CPU machine.

    On an accelerator this is ``AmpOptimWrapper`` (fp16 with dynamic loss
    scaling by default, or ``dtype='bfloat16'``), except that bfloat16 with
    the default ``loss_scale='dynamic'`` runs without a loss scaler: bfloat16
    keeps float32's exponent range, so scaling buys nothing, while the
    scaler's overflow check reads a flag on the host every step (a
    host-device synchronisation) and its unscaling is an extra pass over the
    gradients. Pass a float or dict ``loss_scale`` to keep a scaler with
    bfloat16. The clipped gradient norm stays on the device between logging
    iterations (:class:`DeferredGradNormMixin`). Without an accelerator, the
    forward
    runs under CPU autocast in bfloat16, the only dtype CPU autocast supports;
    bfloat16 keeps float32's exponent range, so no loss scaling is needed and
    the scaler is disabled. Note that bf16 matmuls are much slower than fp32 on
    most CPUs: on CPU this is for checking a GPU recipe, not for speed.

    Args:
        optimizer (torch.optim.Optimizer): The wrapped optimizer.
        loss_scale (str | float | dict): Loss scaling on accelerators, as in
            ``AmpOptimWrapper``. Ignored on CPU. Defaults to ``'dynamic'``.
        dtype (str | torch.dtype, optional): Autocast dtype. On CPU only
            ``None`` or bfloat16 is accepted. Defaults to None.
        use_fsdp (bool): Use FSDP's sharded grad scaler on accelerators.
        accumulative_counts (int): Gradient accumulation steps. Defaults to 1.
        clip_grad (dict, optional): Gradient clipping config, as in
            ``OptimWrapper``. Defaults to None.
    """

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 accumulative_counts: int = 1,
                 clip_grad: Optional[dict] = None):
        if _has_accelerator():
            super().__init__(
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                optimizer=optimizer,
                accumulative_counts=accumulative_counts,
                clip_grad=clip_grad)
            if self.cast_dtype == torch.bfloat16 and loss_scale == 'dynamic':
                self.loss_scaler = torch.amp.GradScaler(enabled=False)
            return
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, dtype)
        if dtype not in (None, torch.bfloat16):
            raise ValueError(
                f'AnyDeviceAmpOptimWrapper: dtype={dtype!r} is not supported '
                'on CPU, where autocast only runs in bfloat16.')
        OptimWrapper.__init__(
            self,
            optimizer=optimizer,
            accumulative_counts=accumulative_counts,
            clip_grad=clip_grad)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16
