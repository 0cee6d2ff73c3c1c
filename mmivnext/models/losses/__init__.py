"""Losses: each head builds its own from a ``loss=dict(type=...)`` config."""
from .box_losses import BoxSmoothL1Loss, GIoULoss
from .cosine_similarity_loss import CosineSimilarityLoss
from .diffusion_loss import DiffusionLoss
from .focal_loss import SigmoidFocalLoss
from .pixel_loss import PixelMSELoss
from .silog_loss import SILogLoss

__all__ = ['SigmoidFocalLoss',
           'BoxSmoothL1Loss', 'GIoULoss',
           'CosineSimilarityLoss', 'DiffusionLoss', 'PixelMSELoss',
           'SILogLoss']
