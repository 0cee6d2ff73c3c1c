"""Wall time of the parts of a train step, forward and backward."""
import time
from collections import OrderedDict, defaultdict
from typing import Dict, List, Mapping, Tuple

import torch
from torch import Tensor, nn


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class StepProfiler:
    """Times named parts of a model (teacher, masker, encoder, predictor...)
    in a train step, forward and backward, without changing its result.

    **Forward**: hooks around each part's ``forward`` synchronise the device
    and add up the part's wall time (a part called twice, e.g. the student
    once per mask config, counts both calls).

    **Backward**: while profiling, each output tensor of a part that needs a
    gradient is handed to the rest of the model as a detached leaf; the real
    output is kept. :meth:`backward` then runs autograd in segments: first
    from the loss down to those leaves (the heads and losses: part
    ``'rest'``), then from each part's outputs, in reverse forward order,
    with the gradient its leaf received. Reverse forward order visits every
    consumer of a part before the part, so each segment has its complete
    gradient, and the parameters receive exactly the gradients of one
    ``loss.backward()`` (tested).

    Keep one ``with profiler:`` around all profiled steps of a compiled
    model: adding hooks to a ``torch.compile``'d module makes it recompile.

    The synchronisations make each figure complete (on GPUs they also keep
    the host from running ahead, so the sum of the parts can exceed a plain
    step by a little); compare with a step timed without the profiler.

    Args:
        parts (Mapping[str, nn.Module]): Name -> module. Parts must not
            contain one another. ``'rest'`` is reserved.
        device (torch.device | str): Device to synchronise. Defaults to CPU.

    Example::

        profiler = StepProfiler(dict(encoder=model.backbone,
                                     predictor=model.predictor))
        with profiler:
            losses = model(inputs, mode='loss')
            profiler.backward(sum(losses.values()))
        profiler.times  # {'encoder': {'forward': s, 'backward': s}, ...}
    """

    def __init__(self, parts: Mapping[str, nn.Module],
                 device='cpu') -> None:
        if 'rest' in parts:
            raise ValueError("'rest' is reserved for what no part covers")
        for name, module in parts.items():
            if not isinstance(module, nn.Module):
                raise TypeError(f'part {name!r} is a {type(module).__name__}, '
                                'not an nn.Module')
        self.parts = OrderedDict(parts)
        self.device = torch.device(device)
        self.times: Dict[str, Dict[str, float]] = defaultdict(
            lambda: dict(forward=0., backward=0.))
        self._starts: Dict[str, List[float]] = defaultdict(list)
        self._segments: List[Tuple[str, List[Tensor], List[Tensor]]] = []
        self._handles = []

    def __enter__(self) -> 'StepProfiler':
        for name, module in self.parts.items():
            self._handles.append(module.register_forward_pre_hook(
                self._make_pre_hook(name)))
            self._handles.append(module.register_forward_hook(
                self._make_post_hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._segments = []

    def reset(self) -> None:
        """Forget the times measured so far."""
        self.times.clear()

    # The hooks run eagerly around a compiled part (torch.compile would
    # otherwise trace the clock reads into its graph as constants).
    def _make_pre_hook(self, name: str):
        @torch.compiler.disable
        def hook(module, args):
            _sync(self.device)
            self._starts[name].append(time.perf_counter())
        return hook

    def _make_post_hook(self, name: str):
        @torch.compiler.disable
        def hook(module, args, output):
            _sync(self.device)
            start = self._starts[name].pop()
            self.times[name]['forward'] += time.perf_counter() - start
            return self._cut(name, output)
        return hook

    def _cut(self, name: str, output):
        """Replace the outputs that need a gradient by detached leaves."""
        if not torch.is_grad_enabled():
            return output
        outs, leaves = [], []

        def leaf(t):
            if torch.is_tensor(t) and t.requires_grad:
                cut = t.detach().requires_grad_()
                outs.append(t)
                leaves.append(cut)
                return cut
            return t

        if torch.is_tensor(output):
            new = leaf(output)
        elif isinstance(output, (tuple, list)):
            items = [leaf(t) for t in output]
            if not outs:
                return output
            new = type(output)(*items) if hasattr(output, '_fields') else \
                type(output)(items)
        else:
            return output
        if outs:
            self._segments.append((name, outs, leaves))
        return new

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``, timed per part (class docstring)."""
        _sync(self.device)
        start = time.perf_counter()
        loss.backward()
        _sync(self.device)
        self.times['rest']['backward'] += time.perf_counter() - start
        for name, outs, leaves in reversed(self._segments):
            pairs = [(o, c.grad) for o, c in zip(outs, leaves)
                     if c.grad is not None]
            if not pairs:
                continue
            start = time.perf_counter()
            torch.autograd.backward([o for o, _ in pairs],
                                    [g for _, g in pairs])
            _sync(self.device)
            self.times[name]['backward'] += time.perf_counter() - start
        self._segments = []
