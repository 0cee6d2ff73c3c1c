"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .representation_monitor_hook import RepresentationMonitorHook
from .sync_free_runtime_info_hook import SyncFreeRuntimeInfoHook
from .teacher_ema_hook import TeacherEMAHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = [
    'AtomicCheckpointHook', 'RepresentationMonitorHook',
    'SyncFreeRuntimeInfoHook', 'TeacherEMAHook', 'WeightsOnlyCheckpointHook'
]
