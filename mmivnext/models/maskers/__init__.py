"""Maskers: choose the student's visible tokens, as index tensors."""
from .base_masker import BaseMasker
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, indices_from_visible,
                           num_visible_tokens)
from .multi_block_masker import MultiBlockMasker
from .random_masker import RandomMasker
from .semantic_masker import SemanticMasker

__all__ = [
    'BaseMasker', 'MaskIndices', 'MultiBlockMasker', 'RandomMasker', 'SemanticMasker',
    'check_mask_ratio', 'indices_from_frame_choice', 'indices_from_visible',
    'num_visible_tokens'
]
