"""Pretraining algorithms: the stages of InternVideo-Next."""
from .base import BaseVideoSelfSupervisor, gather_tokens
from .stage1 import InternVideoNextStage1

__all__ = ['BaseVideoSelfSupervisor', 'InternVideoNextStage1', 'gather_tokens']
