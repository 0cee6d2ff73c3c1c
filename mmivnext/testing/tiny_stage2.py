"""A tiny Stage-2-like model for engine tests (hooks, strategies).

:class:`TinyStage2` is a student ``VisionTransformer3D`` regressing the tokens
of a ``FrozenVideoTeacher`` loaded from a fake Stage-1 checkpoint
(:func:`write_stage1_checkpoint`); both encoders are width 32, 2 layers, 4
frames of 28 px, 4 cls tokens.
"""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from ..models.backbones import VisionTransformer3D
from ..models.teachers import FrozenVideoTeacher

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
ENCODER = dict(arch=TINY, img_size=28, num_frames=4)


def make_encoder(seed: int) -> VisionTransformer3D:
    """The tiny encoder, initialised from ``seed``."""
    torch.manual_seed(seed)
    encoder = VisionTransformer3D(**ENCODER)
    encoder.init_weights()
    return encoder


def write_stage1_checkpoint(path) -> str:
    """Write a fake Stage-1 checkpoint: encoder weights (seed 0) under
    ``backbone.``.

    Returns:
        str: ``str(path)``.
    """
    state_dict = {f'backbone.{k}': v
                  for k, v in make_encoder(0).state_dict().items()}
    torch.save(dict(meta=dict(), state_dict=state_dict), path)
    return str(path)


class TinyStage2(BaseModel):
    """Student encoder (seed 5) regressing a frozen teacher's tokens
    (``2 - 2 cos``).

    Args:
        ckpt (str): The teacher's Stage-1 checkpoint
            (:func:`write_stage1_checkpoint`).
    """

    def __init__(self, ckpt):
        super().__init__()
        self.backbone = make_encoder(5)
        self.teacher = FrozenVideoTeacher(dict(ENCODER), ckpt)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs)  # [B, 3, 4, 28, 28]
        pred = F.normalize(self.backbone(inputs)[:, 4:], dim=-1)
        target = self.teacher(inputs)  # [B, N, C]
        return dict(loss=(2 - 2 * (pred * target).sum(-1)).mean())
