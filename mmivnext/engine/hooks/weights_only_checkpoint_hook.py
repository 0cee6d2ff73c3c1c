"""Keep the runner's checkpoints loadable with ``torch.load(weights_only=True)``."""
from collections import OrderedDict

import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from mmivnext.registry import HOOKS

#: Marks a log scalar history stored as tensors by this hook.
_HISTORY_KEY = '__history_buffer__'


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Store the message hub's log histories as tensors in checkpoints.

    Why (see :mod:`mmivnext.utils.compat`): since torch 2.6, ``torch.load``
    defaults to ``weights_only=True``. MMEngine 0.10 saves the message hub's
    ``HistoryBuffer`` objects, whose pickles reference their statistics methods
    through ``getattr``, a global that weights-only loading rightly refuses. So
    ``--resume``, ``load_from`` and ``tools/test.py`` all fail on checkpoints
    that MMEngine itself wrote.

    This hook rewrites each ``HistoryBuffer`` into plain tensors before a
    checkpoint is saved and rebuilds it after one is loaded, so every load,
    resume included, stays weights-only: no pickled code is ever run.
    It is in ``configs/_base_/default_runtime.py``'s ``default_hooks``.
    """

    priority = 'VERY_LOW'  # after any hook that adds to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not hub or 'log_scalars' not in hub:
            return
        scalars = OrderedDict()
        for key, value in hub['log_scalars'].items():
            if isinstance(value, HistoryBuffer):
                log_history, count_history = value.data
                value = {
                    _HISTORY_KEY: True,
                    'log_history': torch.as_tensor(log_history),
                    'count_history': torch.as_tensor(count_history),
                    'max_length': int(value.max_length),
                }
            scalars[key] = value
        hub['log_scalars'] = scalars

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not hub or 'log_scalars' not in hub:
            return
        for key, value in hub['log_scalars'].items():
            if isinstance(value, dict) and value.get(_HISTORY_KEY):
                hub['log_scalars'][key] = HistoryBuffer(
                    value['log_history'].numpy(),
                    value['count_history'].numpy(),
                    max_length=value['max_length'])
