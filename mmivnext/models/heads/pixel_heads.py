"""Deterministic pixel heads for the decoder ablation (paper Table 1(c)).

The interface of every pixel head, :class:`~mmivnext.models.heads.DiffMLPHead`
included, so that the algorithm swaps heads by config:
``loss(z, target, weights=None) -> Tensor`` and
``predict(z, num_steps=None, temperature=None, generator=None) -> Tensor``.
These heads regress the pixels with a mean squared error
(:class:`~mmivnext.models.losses.PixelMSELoss`).
"""
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from .. import losses as _losses  # noqa: F401  (registers the heads' losses)
from ..utils import xavier_linear_



class _PixelRegressionHead(BaseModule):
    """Shared ``loss`` / ``predict`` of a head mapping ``z`` to pixels with
    ``self.net``.

    Args:
        target_dims (int): ``D``, pixel values per patch.
        cond_dims (int): ``C``, width of ``z``.
        loss (dict): Loss config, called as ``loss(pred, target, weights)``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self, target_dims: int, cond_dims: int, loss: dict,
                 init_cfg: Optional[Union[dict, list]]) -> None:
        super().__init__(init_cfg=init_cfg)
        if min(target_dims, cond_dims) < 1:
            raise ValueError(f'target_dims and cond_dims must be positive, '
                             f'got {target_dims} and {cond_dims}.')
        self.target_dims = target_dims
        self.cond_dims = cond_dims
        self.loss_module = MODELS.build(loss)

    def forward(self, z: Tensor) -> Tensor:
        """``[M, cond_dims]`` -> ``[M, target_dims]``."""
        if z.dim() != 2 or z.shape[1] != self.cond_dims:
            raise ValueError(f'z must be [M, cond_dims={self.cond_dims}], got '
                             f'{tuple(z.shape)}.')
        return self.net(z)

    def loss(self,
             z: Tensor,
             target: Tensor,
             weights: Optional[Tensor] = None) -> Tensor:
        """Regression loss of the targets.

        Args:
            z (Tensor): ``[M, cond_dims]``.
            target (Tensor): ``[M, target_dims]``.
            weights (Tensor, optional): ``[M]`` token weights.

        Returns:
            Tensor: The float32 scalar loss.
        """
        if target.dim() != 2 or target.shape[1] != self.target_dims:
            raise ValueError(f'target must be [M, target_dims='
                             f'{self.target_dims}], got '
                             f'{tuple(target.shape)}.')
        return self.loss_module(self(z), target, weights)

    @torch.no_grad()
    def predict(self,
                z: Tensor,
                num_steps: Optional[int] = None,
                temperature: Optional[float] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """The regressed pixels ``[M, target_dims]`` (float32), no grad.

        ``num_steps`` and ``temperature`` are a sampling head's options: a
        regression head draws nothing and refuses them; ``generator`` is
        accepted and unused.
        """
        if num_steps is not None or temperature is not None:
            raise ValueError(f'{type(self).__name__} regresses its pixels: '
                             'num_steps and temperature apply to sampling '
                             'heads (DiffMLPHead) only.')
        return self(z).float()


@MODELS.register_module()
class LinearPixelHead(_PixelRegressionHead):
    """``Linear(cond_dims, target_dims)``: MAE's linear decoder on the
    predictor's vectors.

    Args:
        target_dims (int): ``D``. Defaults to 588 (``3 * 14 * 14``).
        cond_dims (int): ``C``. Defaults to 1024.
        loss (dict): Defaults to ``dict(type='PixelMSELoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self,
                 target_dims: int = 588,
                 cond_dims: int = 1024,
                 loss: dict = dict(type='PixelMSELoss'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(target_dims, cond_dims, loss, init_cfg)
        self.net = nn.Linear(cond_dims, target_dims)
        xavier_linear_(self.net)


@MODELS.register_module()
class MLPPixelHead(_PixelRegressionHead):
    """3-layer MLP ``Linear -> GELU -> Linear -> GELU -> Linear``.

    Args:
        target_dims (int): ``D``. Defaults to 588 (``3 * 14 * 14``).
        cond_dims (int): ``C``. Defaults to 1024.
        hidden_dims (int): Width of the two hidden layers. Defaults to 1536.
        loss (dict): Defaults to ``dict(type='PixelMSELoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self,
                 target_dims: int = 588,
                 cond_dims: int = 1024,
                 hidden_dims: int = 1536,
                 loss: dict = dict(type='PixelMSELoss'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(target_dims, cond_dims, loss, init_cfg)
        self.hidden_dims = hidden_dims
        self.net = nn.Sequential(
            nn.Linear(cond_dims, hidden_dims), nn.GELU(),
            nn.Linear(hidden_dims, hidden_dims), nn.GELU(),
            nn.Linear(hidden_dims, target_dims))
        xavier_linear_(self.net)
