"""Classification probes on a frozen encoder (paper section 4.2, Table 5).

Both heads are mmaction2 :class:`~mmaction.models.heads.BaseHead` subclasses,
so they plug into ``mmaction.Recognizer3D`` with its losses, top-k accuracy,
``AccMetric`` and multi-view testing (``average_clips`` over clips x crops).
They take the encoder's tokens, ``VisionTransformer3D(out_type='raw')``:
``[B', L, C]`` with the ``num_cls`` cls tokens first (``B'`` = batch x views),
or a tuple holding that one tensor. Their class scores are float32 even under
bfloat16 autocast: mmaction2 1.2.0 computes the training top-k accuracy in
numpy, which has no bfloat16.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmaction.models.heads import BaseHead
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import (MLP, CrossAttention, TransformerEncoderLayer,
                     init_linear_and_norm_)

Tokens = Union[Tensor, Sequence[Tensor]]


def _tokens(x: Tokens) -> Tensor:
    """The ``[B, L, C]`` tokens of ``x`` (a tensor or a tuple of one)."""
    if isinstance(x, (tuple, list)):
        if len(x) != 1:
            raise ValueError(f'Expected one token tensor, got {len(x)} (use a '
                             'single out_indices in the backbone).')
        x = x[0]
    if x.dim() != 3:
        raise ValueError(f'Expected tokens [B, L, C], got shape '
                         f'{tuple(x.shape)}; build the backbone with '
                         "out_type='raw'.")
    return x


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention block of queries over tokens (V-JEPA 2).

    ``q = q + attn(q, norm1(x), norm1(x))``, then ``q = q + mlp(norm2(q))``.
    The queries are not normalised; the keys and values share ``norm1``.

    Args:
        embed_dims (int): Width ``C`` of queries and tokens.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden width over ``C``. Defaults to 4.
        qkv_bias (bool): Bias on the q, k, v projections. Defaults to True.
        norm_eps (float): Epsilon of the LayerNorms. Defaults to 1e-6.

    Parameters: ``norm1``, ``attn`` (:class:`CrossAttention`), ``norm2``,
    ``mlp`` (:class:`MLP`).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = CrossAttention(embed_dims, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = MLP(embed_dims, int(embed_dims * mlp_ratio))

    def forward(self, q: Tensor, x: Tensor) -> Tensor:
        """Queries ``[B, Q, C]`` attend over tokens ``[B, L, C]``; returns
        ``[B, Q, C]``."""
        kv = self.norm1(x)  # [B, L, C]
        q = q + self.attn(q, kv, kv)  # [B, Q, C]
        return q + self.mlp(self.norm2(q))


class AttentivePooler(nn.Module):
    """Attentive pooling of tokens into ``Q`` vectors (V-JEPA 2's probes).

    Optional self-attention blocks over the tokens, then ``Q`` learnable
    queries cross-attend once (:class:`CrossAttentionBlock`):
    ``[B, L, C] -> [B, Q, C]``. Shared by the classification probe
    (:class:`AttentiveProbeHead`) and the anticipation probe's verb / noun /
    action head.

    Args:
        in_channels (int): Token width ``C``.
        num_heads (int): Attention heads.
        num_queries (int): Learnable queries ``Q``. Defaults to 1.
        num_self_attn_blocks (int): Pre-norm ViT blocks before the
            cross-attention (V-JEPA 2's probes: 3). Defaults to 0.
        mlp_ratio (float): MLP width of the blocks over ``C``. Defaults to 4.
        qkv_bias (bool): Bias on the attention projections. Defaults to True.

    Parameters: ``query`` (``[1, Q, C]``), ``blocks``
    (:class:`TransformerEncoderLayer` x ``num_self_attn_blocks``),
    ``cross_block``. Initialisation is the owning head's.
    """

    def __init__(self,
                 in_channels: int,
                 num_heads: int,
                 num_queries: int = 1,
                 num_self_attn_blocks: int = 0,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if num_queries < 1:
            raise ValueError(f'num_queries must be >= 1, got {num_queries}.')
        if num_self_attn_blocks < 0:
            raise ValueError(f'num_self_attn_blocks must be >= 0, got '
                             f'{num_self_attn_blocks}.')
        self.in_channels = in_channels
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(
                in_channels, num_heads, int(in_channels * mlp_ratio),
                qkv_bias=qkv_bias)
            for _ in range(num_self_attn_blocks))
        self.query = nn.Parameter(torch.zeros(1, num_queries, in_channels))
        self.cross_block = CrossAttentionBlock(
            in_channels, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias)

    def forward(self, x: Tensor) -> Tensor:
        """Pool tokens ``[B, L, C]`` into ``[B, Q, C]``."""
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f'Expected tokens [B, L, C={self.in_channels}], '
                             f'got shape {tuple(x.shape)}.')
        for block in self.blocks:
            x = block(x)  # [B, L, C]
        q = self.query.expand(x.shape[0], -1, -1)  # [B, Q, C]
        return self.cross_block(q, x)  # [B, Q, C]


@MODELS.register_module()
class AttentiveProbeHead(BaseHead):
    """Attentive probe: an :class:`AttentivePooler`; its queries are
    averaged, dropped out and classified by a linear layer.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Token width ``C``.
        num_heads (int): Attention heads of every block. Defaults to 16.
        num_queries, num_self_attn_blocks, mlp_ratio, qkv_bias: As in
            :class:`AttentivePooler`, with its defaults.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        init_std (float): Std of the trunc-normal init of the linear layers
            and the queries (biases 0, LayerNorms 1 / 0). Defaults to 0.02.
        loss_cls (dict): Classification loss. Defaults to
            ``dict(type='mmaction.CrossEntropyLoss')`` (scoped, so that the
            head builds under any default scope).
        multi_class (bool): Multi-label targets. Defaults to False.
        label_smooth_eps (float): Label smoothing. Defaults to 0.
        topk (int | tuple[int]): Training top-k accuracies. Defaults to
            ``(1, 5)``.
        average_clips (str, optional): Test-time averaging over views:
            ``'prob'`` (mean softmax), ``'score'`` (mean logits) or None.
            Defaults to ``'prob'``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.

    Parameters: ``pooler`` (:class:`AttentivePooler`), ``fc_cls``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int = 16,
                 num_queries: int = 1,
                 num_self_attn_blocks: int = 0,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 dropout_ratio: float = 0.,
                 init_std: float = 0.02,
                 loss_cls: Dict = dict(type='mmaction.CrossEntropyLoss'),
                 multi_class: bool = False,
                 label_smooth_eps: float = 0.,
                 topk: Union[int, Tuple[int]] = (1, 5),
                 average_clips: Optional[str] = 'prob',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(
            num_classes, in_channels, loss_cls=loss_cls,
            multi_class=multi_class, label_smooth_eps=label_smooth_eps,
            topk=topk, average_clips=average_clips, init_cfg=init_cfg)
        self.num_queries = num_queries
        self.init_std = init_std
        self.pooler = AttentivePooler(
            in_channels, num_heads, num_queries=num_queries,
            num_self_attn_blocks=num_self_attn_blocks, mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        init_linear_and_norm_(self, self.init_std)
        nn.init.trunc_normal_(self.pooler.query, std=self.init_std)

    def pool(self, x: Tokens) -> Tensor:
        """Pool tokens ``[B, L, C]`` into one vector per sample ``[B, C]``."""
        return self.pooler(_tokens(x)).mean(dim=1)  # [B, C]

    def forward(self, x: Tokens, **kwargs) -> Tensor:
        """Class scores of tokens ``[B, L, C]``.

        Args:
            x (Tensor | tuple[Tensor]): The encoder's tokens.
            **kwargs: What ``Recognizer3D`` passes to every head
                (``loss_aux``, ``fcn_test``); unused.

        Returns:
            Tensor: float32 logits ``[B, num_classes]``.
        """
        x = self.dropout(self.pool(x))  # [B, C]
        return self.fc_cls(x).float()


@MODELS.register_module()
class LinearProbeHead(BaseHead):
    """Linear probe on the mean of the tokens (MAE's linear probing).

    The patch tokens (and the cls tokens with ``with_cls_tokens``) are
    averaged, normalised (a BatchNorm without affine parameters, as MAE, or a
    LayerNorm), dropped out and classified by a linear layer.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Token width ``C``.
        num_cls_tokens (int): Cls tokens at the front of the tokens; must
            match the backbone's. Defaults to 4 (``VisionTransformer3D``'s).
        with_cls_tokens (bool): Average the cls tokens with the patch tokens.
            Defaults to False.
        norm (str, optional): ``'BN'`` (``BatchNorm1d(affine=False)``), ``'LN'``
            or None. Defaults to ``'BN'``.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        init_std (float): Std of the trunc-normal init of the classifier
            (bias 0). Defaults to 0.01 (MAE).
        loss_cls, multi_class, label_smooth_eps, topk, average_clips, init_cfg:
            As in :class:`AttentiveProbeHead`.

    Parameters: ``norm`` (no parameters for ``'BN'``; running statistics),
    ``fc_cls``.
    """

    NORMS = ('BN', 'LN', None)

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_cls_tokens: int = 4,
                 with_cls_tokens: bool = False,
                 norm: Optional[str] = 'BN',
                 dropout_ratio: float = 0.,
                 init_std: float = 0.01,
                 loss_cls: Dict = dict(type='mmaction.CrossEntropyLoss'),
                 multi_class: bool = False,
                 label_smooth_eps: float = 0.,
                 topk: Union[int, Tuple[int]] = (1, 5),
                 average_clips: Optional[str] = 'prob',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(
            num_classes, in_channels, loss_cls=loss_cls,
            multi_class=multi_class, label_smooth_eps=label_smooth_eps,
            topk=topk, average_clips=average_clips, init_cfg=init_cfg)
        if norm not in self.NORMS:
            raise ValueError(f'norm must be one of {self.NORMS}, got '
                             f'{norm!r}.')
        if num_cls_tokens < 0:
            raise ValueError(f'num_cls_tokens must be >= 0, got '
                             f'{num_cls_tokens}.')
        self.num_cls_tokens = num_cls_tokens
        self.with_cls_tokens = with_cls_tokens
        self.init_std = init_std
        if norm == 'BN':
            self.norm = nn.BatchNorm1d(in_channels, affine=False, eps=1e-6)
        elif norm == 'LN':
            self.norm = nn.LayerNorm(in_channels, eps=1e-6)
        else:
            self.norm = nn.Identity()
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        nn.init.trunc_normal_(self.fc_cls.weight, std=self.init_std)
        nn.init.zeros_(self.fc_cls.bias)

    def pool(self, x: Tokens) -> Tensor:
        """Average tokens ``[B, L, C]`` into ``[B, C]`` (before the norm)."""
        x = _tokens(x)
        if x.shape[1] <= self.num_cls_tokens:
            raise ValueError(f'Expected more than {self.num_cls_tokens} tokens '
                             f'(the cls tokens), got {x.shape[1]}.')
        if not self.with_cls_tokens:
            x = x[:, self.num_cls_tokens:]  # [B, N, C]
        return x.mean(dim=1)  # [B, C]

    def forward(self, x: Tokens, **kwargs) -> Tensor:
        """As :meth:`AttentiveProbeHead.forward`."""
        x = self.dropout(self.norm(self.pool(x)))  # [B, C]
        return self.fc_cls(x).float()
