"""Backbones: the InternVideo-Next video encoder."""
from .vision_transformer3d import VisionTransformer3D

__all__ = ['VisionTransformer3D']
