"""A tiny Stage-1 model for tests: its teacher and predictor checkpoints,
config, builder and input clips.

:func:`save_tiny_stage1_checkpoints` writes the tiny teacher and predictor
that :func:`tiny_model_cfg` loads; the model takes 4 frames of 28 px
(2 x 2 patches of 14), :func:`clips` draws such inputs.
"""
import copy
import os.path as osp

import torch
from mmengine.registry import DefaultScope

from ..registry import MODELS
from .demo_models import save_tiny_modernbert, save_tiny_siglip


def save_tiny_stage1_checkpoints(root: str) -> dict:
    """Write a tiny SigLIP teacher (width 32, 32 px) and ModernBERT predictor
    (width 32, local window 8) as transformers models under ``root``.

    Returns:
        dict: ``teacher`` and ``predictor`` folders, for
        :func:`tiny_model_cfg`.
    """
    return dict(
        teacher=save_tiny_siglip(osp.join(root, 'siglip'), hidden_size=32,
                                 num_heads=2, image_size=32),
        predictor=save_tiny_modernbert(osp.join(root, 'modernbert'),
                                       hidden_size=32, num_heads=2,
                                       local_attention=8))


def tiny_model_cfg(ckpts: dict, **overrides) -> dict:
    """Stage 1 on 4 frames of 28 px (2 x 2 patches), widths 32-64.

    Args:
        ckpts (dict): ``teacher`` and ``predictor`` folders
            (:func:`save_tiny_stage1_checkpoints`).
        **overrides: Top-level keys of the model config to replace.
    """
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


def build(cfg: dict) -> torch.nn.Module:
    """Build a copy of a ``MODELS`` config in mmivnext's default scope."""
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(copy.deepcopy(cfg))


def clips(batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Random inputs of the tiny model, ``[batch, 3, 4, 28, 28]``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 4, 28, 28, generator=gen)
