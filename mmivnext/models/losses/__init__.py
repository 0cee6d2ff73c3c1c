"""Losses: each head builds its own from a ``loss=dict(type=...)`` config."""
from .cosine_similarity_loss import CosineSimilarityLoss
from .diffusion_loss import DiffusionLoss
from .pixel_loss import PixelMSELoss

__all__ = ['CosineSimilarityLoss', 'DiffusionLoss', 'PixelMSELoss']
