"""Backbones: the InternVideo-Next video encoder and a per-frame image encoder."""
from .vision_transformer3d import VisionTransformer3D

# After VisionTransformer3D: it imports the teachers, which import that.
from .per_frame_image_encoder import PerFrameImageEncoder  # noqa: E402

__all__ = ['PerFrameImageEncoder', 'VisionTransformer3D']
