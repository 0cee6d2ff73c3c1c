"""Predictors: from the encoder's visible tokens to predictions for every token
position (the "latent world model" of InternVideo-Next)."""
from .base_predictor import BasePredictor
from .modernbert_layer import ModernBertLayer
from .modernbert_predictor import ModernBertPredictor
from .vit_predictor import VisionTransformerPredictor

__all__ = [
    'BasePredictor', 'ModernBertLayer', 'ModernBertPredictor',
    'VisionTransformerPredictor'
]
