"""The interface every masker implements."""
import numbers
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .mask_indices import MaskIndices


class BaseMasker(nn.Module, metaclass=ABCMeta):
    """A masker chooses the student's visible tokens of a batch.

    Every masker is called the same way::

        masks = masker(batch_size, grid_size, device=None, attention=None,
                       generator=None)  # -> list[MaskIndices]

    and returns one :class:`MaskIndices` per mask config (one for the maskers
    with a single config); the algorithm runs the student once per entry.
    A masker that chooses from an image teacher's attention sets
    ``needs_attention = True`` and requires ``attention``; the others refuse
    it, so that a teacher's attention is never passed and silently ignored.
    """

    #: Whether :meth:`forward` needs the teacher's ``attention``.
    needs_attention: bool = False

    def forward(self,
                batch_size: int,
                grid_size: Sequence[int],
                device: Union[str, torch.device, None] = None,
                attention: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None
                ) -> List[MaskIndices]:
        """Draw the masks of a batch.

        Args:
            batch_size (int): ``B``.
            grid_size (Sequence[int]): ``(T, H, W)`` of the student's token
                grid.
            device (str | torch.device, optional): Device of the returned
                indices. Defaults to ``attention``'s device if given, else the
                CPU.
            attention (Tensor, optional): ``[B, T, H * W]`` attention of an
                image teacher over each frame's tokens; required if and only
                if ``needs_attention``.
            generator (torch.Generator, optional): Generator of the draws;
                they are made on its device, then moved to ``device``.

        Returns:
            list[MaskIndices]: One per mask config.
        """
        if isinstance(batch_size, bool) or not isinstance(
                batch_size, numbers.Integral) or batch_size < 1 or \
                len(grid_size) != 3 or min(grid_size) < 1:
            raise ValueError('expected batch_size >= 1 and grid_size (T, H, '
                             f'W) >= 1, got {batch_size}, {tuple(grid_size)}')
        grid = tuple(int(size) for size in grid_size)
        if self.needs_attention and attention is None:
            raise ValueError(f'{type(self).__name__} chooses from an image '
                             'teacher\'s attention: pass attention=[B, T, '
                             'H * W].')
        if not self.needs_attention and attention is not None:
            raise ValueError(f'{type(self).__name__} does not use attention; '
                             'pass it only to maskers with needs_attention.')
        if device is None:
            device = attention.device if attention is not None else 'cpu'
        return self.draw(int(batch_size), grid, torch.device(device), attention,
                         generator)

    @abstractmethod
    def draw(self, batch_size: int, grid_size: Tuple[int, int, int],
             device: torch.device, attention: Optional[Tensor],
             generator: Optional[torch.Generator]) -> List[MaskIndices]:
        """:meth:`forward` after its arguments were checked."""
