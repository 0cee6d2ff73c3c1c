"""Frozen teachers: the SigLIP image teacher of Stage 1."""
from .siglip_teacher import SigLIPTeacher, SigLIPTeacherOutput

__all__ = ['SigLIPTeacher', 'SigLIPTeacherOutput']
