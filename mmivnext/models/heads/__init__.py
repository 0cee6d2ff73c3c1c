"""Heads: pixel decoders and teacher alignment of Stage 1 (each builds its
own loss)."""
from .alignment_head import TokenAlignmentHead
from .diff_mlp_head import DiffMLPHead
from .pixel_heads import LinearPixelHead, MLPPixelHead

__all__ = [
    'DiffMLPHead', 'LinearPixelHead', 'MLPPixelHead', 'TokenAlignmentHead'
]
