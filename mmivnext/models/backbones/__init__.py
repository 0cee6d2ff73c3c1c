"""Backbones: the InternVideo-Next video encoder and a per-frame image encoder."""
from .per_frame_image_encoder import PerFrameImageEncoder
from .vision_transformer3d import VisionTransformer3D

__all__ = ['PerFrameImageEncoder', 'VisionTransformer3D']
