"""Frozen teachers: the SigLIP image teacher of Stage 1 and the Stage-1 video
encoder as the teacher of Stage 2, both frozen by :class:`BaseFrozenTeacher`."""
from .base_frozen_teacher import BaseFrozenTeacher
from .frozen_video_teacher import FrozenVideoTeacher, read_encoder_state_dict
from .siglip_teacher import SigLIPTeacher, SigLIPTeacherOutput

__all__ = [
    'BaseFrozenTeacher', 'FrozenVideoTeacher', 'SigLIPTeacher',
    'SigLIPTeacherOutput', 'read_encoder_state_dict'
]
