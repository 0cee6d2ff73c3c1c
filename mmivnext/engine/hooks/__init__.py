"""Runner hooks."""
from .teacher_ema_hook import TeacherEMAHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['TeacherEMAHook', 'WeightsOnlyCheckpointHook']
