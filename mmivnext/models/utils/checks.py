"""Checks of tensor values that never make the host wait for the device.

Reading a device tensor on the host (``bool(t)``, ``t.item()``, ``int(t)``)
waits for every kernel queued before it: one such read per train step stalls
the GPU's queue. The checks of index and attention values in the encoder,
predictors and maskers therefore go through :func:`check_values`.
"""
import torch
from torch import Tensor


def check_values(condition: Tensor, message: str) -> None:
    """Raise unless every element of ``condition`` is True.

    On the CPU (no queue to stall) a failure raises ``ValueError(message)``
    at once. On an accelerator, and in ``torch.compile``'d code (so that the
    graph does not break), the check is queued with ``torch._assert_async``:
    a failure stops the program at the device's next synchronisation with
    a device-side assertion that carries ``message`` (CUDA prints it). On
    the ``meta`` device it only checks shapes.

    Args:
        condition (Tensor): Bool tensor of any shape.
        message (str): The error message; it should name the argument and the
            allowed values, since the offending values are not read.
    """
    if condition.device.type == 'cpu' and \
            not torch.compiler.is_compiling():
        if not bool(condition.all()):
            raise ValueError(message)
    else:
        torch._assert_async(condition.all(), message)
