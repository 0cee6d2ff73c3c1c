"""A plain ViT predictor trained from scratch, for the predictor ablations of
Table 1(b) ("Depth-5 ViT", "Depth-12 ViT"; "zero-init" in the paper: not
initialised from a pretrained model). The authors' code has no such predictor;
it replaces the ModernBERT layers of :class:`.ModernBertPredictor` with
standard pre-norm ViT blocks and keeps the rest."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mmivnext.registry import MODELS
from ..utils import TransformerEncoderLayer, build_norm
from ..utils.norm import NormCfg
from .base_predictor import BasePredictor


@MODELS.register_module()
class VisionTransformerPredictor(BasePredictor):
    """Predictor made of randomly initialised pre-norm ViT blocks.

    Same interface and input pipeline as :class:`.ModernBertPredictor` (see
    :class:`~.base_predictor.BasePredictor`): mask token and position embedding
    in the encoder width, projection to ``embed_dims``, then ``num_layers``
    :class:`~mmivnext.models.utils.TransformerEncoderLayer` s with global
    attention and a final norm.

    Init: trunc-normal(0.02) linear weights, zero biases, unit norms.

    Args:
        in_dims (int): Encoder width ``C``.
        grid_size (Sequence[int]): Token grid ``(T', H', W')``.
        num_cls_tokens (int): Encoder cls tokens. Defaults to 4.
        embed_dims (int): Predictor width ``D``. Defaults to 1024 (the
            ModernBERT-large width, so the heads are unchanged).
        num_layers (int): Depth, 5 or 12 in the paper. Defaults to 5.
        num_heads (int): Attention heads. Defaults to 16.
        mlp_ratio (float): MLP width over ``embed_dims``. Defaults to 4.
        qkv_bias (bool): Bias on the qkv projections. Defaults to True.
        drop_path_rate (float): Stochastic depth, linear in depth up to this
            value. Defaults to 0.
        norm_cfg (str | dict): Norm of the blocks and the final norm.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        final_norm (bool): Normalise the output. Defaults to True.
        with_cp (bool): Gradient checkpointing of each block while training.
            Defaults to False.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    def __init__(self,
                 in_dims: int,
                 grid_size: Sequence[int],
                 num_cls_tokens: int = 4,
                 embed_dims: int = 1024,
                 num_layers: int = 5,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.,
                 norm_cfg: NormCfg = None,
                 final_norm: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_dims, embed_dims, grid_size, num_cls_tokens,
                         init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}.')
        if norm_cfg is None:
            norm_cfg = dict(type='LN', eps=1e-6)
        self.num_layers = num_layers
        self.with_cp = with_cp
        dpr = [drop_path_rate * i / max(num_layers - 1, 1)
               for i in range(num_layers)]
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                embed_dims, num_heads, int(embed_dims * mlp_ratio),
                qkv_bias=qkv_bias, drop_path_rate=dpr[i], norm_cfg=norm_cfg)
            for i in range(num_layers))
        self.norm = build_norm(norm_cfg, embed_dims) if final_norm \
            else nn.Identity()
        self._init_layers()

    @torch.no_grad()
    def _init_layers(self) -> None:
        for m in [*self.layers.modules(), *self.norm.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
                m.reset_parameters()

    def _forward_layers(self, x: Tensor) -> Tensor:
        """Run the blocks and the final norm: ``[B, L, D]`` -> ``[B, L, D]``."""
        use_cp = self.with_cp and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            if use_cp:
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)  # [B, L, D]
        return self.norm(x)
