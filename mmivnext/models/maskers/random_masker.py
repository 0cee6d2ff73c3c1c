"""Uniform random masking, for the pixel-only baseline."""
from typing import Optional, Sequence, Union

import torch
from torch import nn

from mmivnext.registry import MODELS
from .mask_indices import (MaskIndices, check_mask_ratio,
                           indices_from_frame_choice, indices_from_visible,
                           num_visible_tokens)


@MODELS.register_module()
class RandomMasker(nn.Module):
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

    def forward(self,
                batch_size: int,
                grid_size: Sequence[int],
                device: Union[str, torch.device, None] = None,
                generator: Optional[torch.Generator] = None) -> MaskIndices:
        """Draw the masks of a batch.

        Args:
            batch_size (int): ``B``.
            grid_size (Sequence[int]): ``(T, H, W)`` of the student's token
                grid.
            device (str | torch.device, optional): Device of the returned
                indices. Defaults to the CPU.
            generator (torch.Generator, optional): Generator of the draws;
                they are made on its device, then moved to ``device``.

        Returns:
            MaskIndices: ``visible [B, K]`` and ``masked [B, N - K]`` with
            ``K = T * (H * W - int(H * W * mask_ratio))`` (per frame) or
            ``N - int(N * mask_ratio)`` (clip), ``N = T * H * W``.
        """
        if len(grid_size) != 3 or min(grid_size) < 1 or batch_size < 1:
            raise ValueError('expected batch_size >= 1 and grid_size (T, H, '
                             f'W) >= 1, got {batch_size}, {tuple(grid_size)}')
        frames, height, width = grid_size
        device = torch.device('cpu' if device is None else device)
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
            return indices_from_frame_choice(choice, grid_size)
        visible = torch.zeros(
            shape, dtype=torch.bool, device=choice.device).scatter_(
                -1, choice, True)
        return indices_from_visible(visible, num_visible)
