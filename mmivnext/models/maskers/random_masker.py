"""Uniform random masking, for the pixel-only baseline."""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from mmivnext.registry import MODELS
from .base_masker import BaseMasker
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, indices_from_visible,
                           num_visible_tokens)


@MODELS.register_module()
class RandomMasker(BaseMasker):
    """Keep uniformly random tokens visible.

    Args:
        mask_ratio (float): Fraction of tokens to mask, in (0, 1).
        per_frame (bool): Keep ``n - int(n * mask_ratio)`` tokens (the
            authors' count, see :func:`num_visible_tokens`) of every frame's
            ``n = H * W`` (True), or of the clip's ``n = T * H * W`` anywhere
            (False). Defaults to True.
    """

    def __init__(self, mask_ratio: float, per_frame: bool = True) -> None:
        super().__init__()
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.per_frame = per_frame

    def extra_repr(self) -> str:
        return f'mask_ratio={self.mask_ratio}, per_frame={self.per_frame}'

    def draw(self, batch_size: int, grid_size: Tuple[int, int, int],
             device: torch.device, attention: Optional[Tensor],
             generator: Optional[torch.Generator]) -> List[MaskIndices]:
        """One mask; see ``per_frame`` for its visible count."""
        frames, height, width = grid_size
        shape = ((batch_size, frames, height * width) if self.per_frame else
                 (batch_size, frames * height * width))
        num_visible = num_visible_tokens(shape[-1], self.mask_ratio)
        noise = torch.rand(
            shape, generator=generator,
            device=generator.device if generator is not None else device)
        # The positions of the K largest of i.i.d. uniform noises are a
        # uniformly random K-subset.
        choice = noise.topk(num_visible, dim=-1).indices.to(device)
        if self.per_frame:
            return [indices_from_frame_choice(choice, grid_size)]
        visible = torch.zeros(
            shape, dtype=torch.bool, device=choice.device).scatter_(
                -1, choice, True)
        return [indices_from_visible(visible, num_visible)]
