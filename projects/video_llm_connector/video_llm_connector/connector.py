"""The trainable bridge from a video encoder's token grid to LLM tokens."""
from typing import Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from .registry import MODELS


@MODELS.register_module()
class PooledMLPConnector(BaseModule):
    """Pool the token grid to a fixed budget, then map each token with an
    MLP.

    The encoder's grid ``[B, C, T', H', W']`` is average-pooled
    (``adaptive_avg_pool3d``) to ``token_grid = (t, h, w)``, i.e. ``t * h *
    w`` visual tokens a clip, flattened in ``(t, h, w)`` order, then each
    token goes through ``Linear(C, D) - GELU - Linear(D, D)`` (LLaVA's
    ``mlp2x_gelu``) to the LLM width ``D``. The budget is set by
    ``token_grid``: e.g. 4 frames x 4 x 4 = 64 tokens, where VideoChat-Flash
    merges each frame's tokens to 16 (README, "Recipe").

    Args:
        in_channels (int): ``C``, the encoder's width.
        out_channels (int): ``D``, the LLM's hidden size.
        token_grid (Sequence[int]): ``(t, h, w)``, each no larger than the
            encoder's grid (pooling never upsamples).
        num_layers (int): Linear layers of the MLP (1 or more; GELU
            between). Defaults to 2.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 token_grid: Sequence[int],
                 num_layers: int = 2) -> None:
        super().__init__(init_cfg=None)
        token_grid = tuple(int(s) for s in token_grid)
        if len(token_grid) != 3 or min(token_grid) < 1:
            raise ValueError(f'token_grid must be three positive ints '
                             f'(t, h, w), got {token_grid}')
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.token_grid = token_grid
        self.num_tokens = token_grid[0] * token_grid[1] * token_grid[2]
        layers = [nn.Linear(in_channels, out_channels)]
        for _ in range(num_layers - 1):
            layers += [nn.GELU(), nn.Linear(out_channels, out_channels)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, featmap: Tensor) -> Tensor:
        """Visual tokens ``[B, t * h * w, D]`` of a grid
        ``[B, C, T', H', W']``."""
        if featmap.dim() != 5:
            raise ValueError(
                f'The connector needs the encoder\'s token grid [B, C, T, H, '
                f"W] (out_type='featmap'), got {tuple(featmap.shape)}")
        if any(s > g for s, g in zip(self.token_grid, featmap.shape[2:])):
            raise ValueError(f'token_grid {self.token_grid} is larger than '
                             f'the encoder grid {tuple(featmap.shape[2:])}')
        x = F.adaptive_avg_pool3d(featmap, self.token_grid)
        x = x.flatten(2).transpose(1, 2)  # [B, t * h * w, C]
        return self.mlp(x)  # [B, t * h * w, D]
