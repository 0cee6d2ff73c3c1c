"""Head mapping predictor outputs to a teacher's latent space (Stage 2)."""
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import init_linear_and_norm_


@MODELS.register_module()
class LatentPredictionHead(BaseModule):
    """``Linear -> GELU -> Linear -> LayerNorm`` to the teacher's width, with
    a ``2 - 2 cos`` loss against the teacher's latents of the same tokens.

    Args:
        in_dims (int): Width of the inputs (the predictor's, 1024 for
            ModernBERT-Large; or the encoder's for visible-token alignment).
        out_dims (int): Teacher width ``C_t`` (the encoder width for the
            frozen Stage-1 teacher).
        hidden_dims (int, optional): Hidden width. Defaults to ``in_dims``.
        loss (dict): Defaults to ``dict(type='CosineSimilarityLoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self,
                 in_dims: int,
                 out_dims: int,
                 hidden_dims: Optional[int] = None,
                 loss: dict = dict(type='CosineSimilarityLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden_dims = hidden_dims or in_dims
        self.in_dims, self.out_dims = in_dims, out_dims
        self.net = nn.Sequential(
            nn.Linear(in_dims, hidden_dims), nn.GELU(),
            nn.Linear(hidden_dims, out_dims), nn.LayerNorm(out_dims))
        self.loss_module = MODELS.build(loss)
        init_linear_and_norm_(self.net, std=.02)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_dims]`` -> ``[..., out_dims]``."""
        if x.shape[-1] != self.in_dims:
            raise ValueError(f'Expected inputs of width {self.in_dims}, got '
                             f'{tuple(x.shape)}.')
        return self.net(x)

    def loss(self, x: Tensor, target: Tensor) -> Tensor:
        """The loss of the mapped ``x [B, M, in_dims]`` against the
        teacher's ``target [B, M, out_dims]``."""
        return self.loss_module(self(x), target)
