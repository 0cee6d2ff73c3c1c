"""Pretraining algorithms: the stages of InternVideo-Next."""
from .base import BaseVideoSelfSupervisor, gather_tokens
from .stage1 import InternVideoNextStage1
from .stage2 import InternVideoNextStage2

__all__ = [
    'BaseVideoSelfSupervisor', 'InternVideoNextStage1', 'InternVideoNextStage2',
    'gather_tokens'
]
