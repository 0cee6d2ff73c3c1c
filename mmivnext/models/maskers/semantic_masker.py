"""Semantic masking: keep the tokens the image teacher attends to."""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from mmivnext.registry import MODELS
from ..utils import check_values
from .base_masker import BaseMasker
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, num_visible_tokens)


@MODELS.register_module()
class SemanticMasker(BaseMasker):
    """Choose each frame's visible tokens from the teacher's attention.

    In every frame, ``K_f = H * W - int(H * W * mask_ratio)`` tokens stay
    visible (the authors' count, :func:`num_visible_tokens`), chosen from the
    attention of the image teacher's pooling head over that frame's patches
    (``SigLIPTeacherOutput.attention``):

    * ``mode='sample'``: drawn without replacement, each draw with probability
      proportional to the attention among the tokens not drawn yet
      (``torch.multinomial``), as the authors' code does;
    * ``mode='topk'``: the tokens of highest attention, as the paper's text
      says.

    The attention grid must be the student's token grid (one teacher frame
    per student temporal token, the same ``H x W``).

    Args:
        mask_ratio (float): Fraction of each frame's tokens to mask, in
            (0, 1). Defaults to 0.8 (the paper's).
        mode (str): ``'sample'`` or ``'topk'``. Defaults to ``'sample'``.
    """

    MODES = ('sample', 'topk')
    needs_attention = True

    def __init__(self, mask_ratio: float = 0.8, mode: str = 'sample') -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.mode = mode

    def extra_repr(self) -> str:
        return f'mask_ratio={self.mask_ratio}, mode={self.mode!r}'

    def draw(self, batch_size: int, grid_size: Tuple[int, int, int],
             device: torch.device, attention: Optional[Tensor],
             generator: Optional[torch.Generator]) -> List[MaskIndices]:
        """One mask, ``visible [B, T * K_f]``.

        ``attention`` holds non-negative, finite weights (e.g. attention
        probabilities). In ``sample`` mode they are floored at 1e-12, so that
        a frame whose weights underflowed to zero on some tokens (bf16) still
        has enough tokens to draw; ``generator`` must be on ``attention``'s
        device (``topk`` draws nothing).
        """
        frames, height, width = grid_size
        if attention.ndim != 3 or tuple(attention.shape) != (
                batch_size, frames, height * width):
            raise ValueError(
                f'attention {list(attention.shape)} does not match the batch '
                f'size {batch_size} and token grid (T, H, W) = {grid_size}: '
                'the teacher must see one frame per temporal token and have '
                'the same H x W grid')
        check_values((attention >= 0) & torch.isfinite(attention),
                     'attention must be finite and non-negative')
        num_visible = num_visible_tokens(height * width, self.mask_ratio)

        if self.mode == 'topk':
            choice = attention.topk(num_visible, dim=-1).indices
        else:
            weights = attention.float().flatten(0, 1).clamp_min(1e-12)
            choice = torch.multinomial(
                weights, num_visible, replacement=False,
                generator=generator).view(batch_size, frames, num_visible)
        mask = indices_from_frame_choice(choice, grid_size)
        return [MaskIndices(*(t.to(device) for t in mask))]
