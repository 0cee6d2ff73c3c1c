"""A tiny Stage-1 model for tests: its config, builder and input clips.

The ``tiny_checkpoints`` fixture (tests/conftest.py) gives the saved tiny
teacher and predictor it loads.
"""
import copy

import torch
from mmengine.registry import DefaultScope

from mmivnext.registry import MODELS


def tiny_model_cfg(ckpts, **overrides):
    """Stage 1 on 4 frames of 28 px (2 x 2 patches), widths 32-64."""
    cfg = dict(
        type='InternVideoNextStage1',
        backbone=dict(
            type='VisionTransformer3D',
            arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                      feedforward_channels=128),
            img_size=28, num_frames=4, num_cls_tokens=4,
            projector_cfg=dict(num_heads=2, out_dims=32),
            out_indices=(-2, -1), out_type='raw'),
        teacher=dict(type='SigLIPTeacher', pretrained=ckpts['teacher'],
                     layers=(-2, -1)),
        masker=dict(type='SemanticMasker', mask_ratio=0.5, mode='sample'),
        predictor=dict(type='ModernBertPredictor', num_layers=3,
                       pretrained=ckpts['predictor']),
        pixel_head=dict(type='DiffMLPHead', width=64, depth=1),
        align_head=dict(type='TokenAlignmentHead', num_layers=2),
        global_align_head=dict(
            type='LatentPredictionHead',
            loss=dict(type='CosineSimilarityLoss', normalize_target=False)))
    cfg.update(overrides)
    return cfg


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(copy.deepcopy(cfg))


def clips(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 4, 28, 28, generator=gen)
