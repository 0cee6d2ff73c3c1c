"""Maskers: choose the student's visible tokens, as index tensors."""
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, indices_from_visible,
                           num_visible_tokens)
from .random_masker import RandomMasker
from .semantic_masker import SemanticMasker

__all__ = [
    'MaskIndices', 'RandomMasker', 'SemanticMasker', 'check_mask_ratio',
    'indices_from_frame_choice', 'indices_from_visible', 'num_visible_tokens'
]
