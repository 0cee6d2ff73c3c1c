"""Heads: pixel decoders and teacher alignment of Stage 1, latent prediction
of Stage 2 (each builds its own loss)."""
from .alignment_head import TokenAlignmentHead
from .diff_mlp_head import DiffMLPHead
from .latent_head import LatentPredictionHead
from .pixel_heads import LinearPixelHead, MLPPixelHead

__all__ = [
    'DiffMLPHead', 'LatentPredictionHead', 'LinearPixelHead', 'MLPPixelHead',
    'TokenAlignmentHead'
]
