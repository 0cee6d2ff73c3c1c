"""Heads: pixel decoders and teacher alignment of Stage 1, latent prediction
of Stage 2 (each builds its own loss), the classification probes (mmaction2
heads) and the depth, box-tracking and anticipation probe heads."""
from .alignment_head import TokenAlignmentHead
from .box_tracking_head import BoxTrackingHead
from .depth_head import DepthProbeHead
from .diff_mlp_head import DiffMLPHead
from .latent_head import LatentPredictionHead
from .pixel_heads import LinearPixelHead, MLPPixelHead
from .probe_heads import (AttentivePooler, AttentiveProbeHead,
                          CrossAttentionBlock, LinearProbeHead)
from .verb_noun_action_head import AttentiveVerbNounActionHead

__all__ = [
    'AttentivePooler', 'AttentiveProbeHead', 'AttentiveVerbNounActionHead',
    'BoxTrackingHead', 'CrossAttentionBlock', 'DepthProbeHead', 'DiffMLPHead',
    'LatentPredictionHead', 'LinearPixelHead', 'LinearProbeHead',
    'MLPPixelHead', 'TokenAlignmentHead'
]
