"""Semantic masking: keep the tokens the image teacher attends to."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import check_values
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, num_visible_tokens)


@MODELS.register_module()
class SemanticMasker(nn.Module):
    """Choose each frame's visible tokens from the teacher's attention.

    In every frame, ``K_f = H * W - int(H * W * mask_ratio)`` tokens stay
    visible (the authors' count, ``engines/engine_for_stage1.py:86``: 52 of
    256 at 0.8, 64 at 0.75), chosen from the attention of the image teacher's
    pooling head over that frame's patches (``SigLIPTeacherOutput.attention``):

    * ``mode='sample'``: drawn without replacement, each draw with probability
      proportional to the attention among the tokens not drawn yet
      (``torch.multinomial``), as the authors' code does;
    * ``mode='topk'``: the tokens of highest attention, as the paper's text
      says.

    Every frame of every sample gets the same count, so the indices stack.
    The attention grid must be the student's token grid (teacher grid =
    student grid, and one teacher frame per student temporal token).

    Args:
        mask_ratio (float): Fraction of each frame's tokens to mask, in
            (0, 1). Defaults to 0.8 (the paper's).
        mode (str): ``'sample'`` or ``'topk'``. Defaults to ``'sample'``.
    """

    MODES = ('sample', 'topk')

    def __init__(self, mask_ratio: float = 0.8, mode: str = 'sample') -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.mode = mode

    def extra_repr(self) -> str:
        return f'mask_ratio={self.mask_ratio}, mode={self.mode!r}'

    def forward(self,
                attention: Tensor,
                grid_size: Optional[Sequence[int]] = None,
                generator: Optional[torch.Generator] = None) -> MaskIndices:
        """Draw the masks of a batch.

        Args:
            attention (Tensor): ``[B, T, H * W]`` non-negative, finite weights
                of each frame's tokens in ``(h, w)`` order, ``w`` fastest
                (e.g. attention probabilities). In ``sample`` mode they are
                floored at 1e-12, so that a frame whose weights underflowed to
                zero on some tokens (bf16) still has enough tokens to draw.
            grid_size (Sequence[int], optional): ``(T, H, W)`` of the
                student's token grid; if given, ``attention`` must match it.
            generator (torch.Generator, optional): Generator of the draws, on
                ``attention``'s device (``sample`` mode; ``topk`` draws
                nothing).

        Returns:
            MaskIndices: ``visible [B, T * K_f]`` and ``masked [B, T * (H * W
            - K_f)]``, ``K_f = H * W - int(H * W * mask_ratio)``.
        """
        if attention.ndim != 3:
            raise ValueError('expected attention [B, T, H * W], got shape '
                             f'{list(attention.shape)}')
        batch, frames, tokens = attention.shape
        if grid_size is None:
            grid_size = (frames, tokens, 1)
        elif (len(grid_size) != 3 or grid_size[0] != frames
              or grid_size[1] * grid_size[2] != tokens):
            raise ValueError(
                f'attention {list(attention.shape)} does not match the token '
                f'grid (T, H, W) = {tuple(grid_size)}: the teacher must see '
                f'one frame per temporal token and have the same H x W grid')
        check_values((attention >= 0) & torch.isfinite(attention),
                     'attention must be finite and non-negative')
        num_visible = num_visible_tokens(tokens, self.mask_ratio)

        if self.mode == 'topk':
            choice = attention.topk(num_visible, dim=-1).indices
        else:
            weights = attention.float().flatten(0, 1).clamp_min(1e-12)
            choice = torch.multinomial(
                weights, num_visible, replacement=False,
                generator=generator).view(batch, frames, num_visible)
        return indices_from_frame_choice(choice, grid_size)
