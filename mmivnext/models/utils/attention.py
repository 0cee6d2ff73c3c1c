"""Attention layers: multi-head self-attention, cross-attention, attention pooling.

All of them compute attention with
:func:`torch.nn.functional.scaled_dot_product_attention` (SDPA), which picks a
fused kernel where one is available. ``attn_mask`` follows SDPA's convention: a
boolean mask is True where a query may attend to a key; a float mask is added to
the attention logits.
"""
import contextlib
from typing import ContextManager, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .norm import NormCfg, build_norm
from .rope import apply_rope_3d


#: SDPA kernels by the names configs use.
SDPA_BACKENDS = {
    'flash': SDPBackend.FLASH_ATTENTION,
    'efficient': SDPBackend.EFFICIENT_ATTENTION,
    'cudnn': SDPBackend.CUDNN_ATTENTION,
    'math': SDPBackend.MATH,
}


def sdpa_backends_context(
        backends: Optional[Sequence[str]]) -> ContextManager:
    """A context restricting SDPA to the named kernels.

    Args:
        backends (Sequence[str], optional): Some of ``'flash'``,
            ``'efficient'`` (memory-efficient), ``'cudnn'`` and ``'math'``
            (the unfused reference). PyTorch picks the fastest allowed kernel
            that supports the inputs, and raises if none does. None allows
            every kernel (PyTorch's default choice).

    Returns:
        A context manager (a no-op for None).
    """
    if backends is None:
        return contextlib.nullcontext()
    if isinstance(backends, str) or not backends:
        raise ValueError('sdpa_backends must be a non-empty list of '
                         f'{sorted(SDPA_BACKENDS)}, got {backends!r}')
    unknown = [b for b in backends if b not in SDPA_BACKENDS]
    if unknown:
        raise ValueError(f'unknown SDPA backends {unknown}; choose from '
                         f'{sorted(SDPA_BACKENDS)}')
    return sdpa_kernel([SDPA_BACKENDS[b] for b in backends])


def _check_heads(embed_dims: int, num_heads: int) -> int:
    """Return the head width, or raise if ``embed_dims`` does not split."""
    if num_heads < 1 or embed_dims % num_heads:
        raise ValueError(f'embed_dims ({embed_dims}) must be divisible by '
                         f'num_heads ({num_heads}).')
    return embed_dims // num_heads


class MultiheadSelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and optional QK norm.

    Args:
        embed_dims (int): Token width ``C``.
        num_heads (int): Number of heads ``h``; ``C`` must be divisible by it.
        qkv_bias (bool): Whether the qkv projection has a bias. Defaults to True.
        qk_norm (str | dict | None): Norm applied to queries and keys before the
            dot product (see :func:`~mmivnext.models.utils.norm.build_norm`), e.g.
            ``'rmsnorm'`` or ``'layernorm'``. None disables it. Defaults to None.
        qk_norm_across_heads (bool): False normalises each head separately (one
            weight of size ``C / h`` shared by all heads); True normalises the
            concatenated heads together (one weight of size ``C``), as the
            InternVideo2 / InternVideo-Next encoders do. Defaults to False.
        attn_drop (float): Dropout on the attention weights (training only).
            Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.
        proj_bias (bool): Whether the output projection has a bias.
            Defaults to True.

    Parameters: ``qkv`` (``Linear(C, 3C)``, output order q, k, v, each head-major),
    ``q_norm`` / ``k_norm`` (when ``qk_norm`` is set), ``proj`` (``Linear(C, C)``).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 qk_norm: NormCfg = None,
                 qk_norm_across_heads: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 proj_bias: bool = True) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = _check_heads(embed_dims, num_heads)
        self.qk_norm_across_heads = qk_norm_across_heads
        self.attn_drop = attn_drop

        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.with_qk_norm = qk_norm is not None
        if self.with_qk_norm:
            norm_dims = embed_dims if qk_norm_across_heads else self.head_dims
            self.q_norm = build_norm(qk_norm, norm_dims)
            self.k_norm = build_norm(qk_norm, norm_dims)
        self.proj = nn.Linear(embed_dims, embed_dims, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def _norm_qk(self, q: Tensor, k: Tensor) -> tuple:
        """Apply the QK norm to ``q`` and ``k`` of shape ``[B, N, h, d]``."""
        if not self.with_qk_norm:
            return q, k
        if self.qk_norm_across_heads:
            q = self.q_norm(q.flatten(2)).view_as(q)  # norm over h * d
            k = self.k_norm(k.flatten(2)).view_as(k)
        else:
            q = self.q_norm(q)  # norm over d, per head
            k = self.k_norm(k)
        return q, k

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None,
                rope_positions: Optional[Tensor] = None) -> Tensor:
        """Attend over the tokens of ``x``.

        Args:
            x (Tensor): Tokens ``[B, N, C]``.
            attn_mask (Tensor, optional): SDPA mask broadcastable to
                ``[B, h, N, N]``.
            rope_positions (Tensor, optional): Integer ``(t, h, w)`` grid
                positions ``[B or 1, N, 3]`` of the tokens: queries and keys
                (after the QK norm) get V-JEPA 2's 3D RoPE
                (:func:`~mmivnext.models.utils.rope.apply_rope_3d`). None
                applies no RoPE.

        Returns:
            Tensor: ``[B, N, C]``.
        """
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.unbind(2)  # each [B, N, h, d]
        q, k = self._norm_qk(q, k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # each [B, h, N, d]
        if rope_positions is not None:
            q = apply_rope_3d(q, rope_positions)
            k = apply_rope_3d(k, rope_positions)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_drop if self.training else 0.)  # [B, h, N, d]
        x = x.transpose(1, 2).reshape(B, N, C)  # [B, N, C]
        return self.proj_drop(self.proj(x))


class CrossAttention(nn.Module):
    """Multi-head cross-attention of queries over separate keys and values.

    Args:
        embed_dims (int): Query width ``C`` (also the attention width).
        num_heads (int): Number of heads; ``C`` must be divisible by it.
        kv_dims (int, optional): Width of the key / value inputs. Defaults to
            ``embed_dims``.
        out_dims (int, optional): Output width. Defaults to ``embed_dims``.
        qkv_bias (bool): Whether the q, k, v projections have biases.
            Defaults to True.
        attn_drop (float): Dropout on the attention weights (training only).
            Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.

    Parameters: ``q`` (``Linear(C, C)``), ``k`` and ``v``
    (``Linear(kv_dims, C)``), ``proj`` (``Linear(C, out_dims)``).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 kv_dims: Optional[int] = None,
                 out_dims: Optional[int] = None,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = _check_heads(embed_dims, num_heads)
        self.attn_drop = attn_drop
        kv_dims = embed_dims if kv_dims is None else kv_dims
        self.out_dims = embed_dims if out_dims is None else out_dims

        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.k = nn.Linear(kv_dims, embed_dims, bias=qkv_bias)
        self.v = nn.Linear(kv_dims, embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, self.out_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """Attend from ``query`` over ``key`` / ``value``.

        Args:
            query (Tensor): ``[B, Nq, C]``.
            key (Tensor): ``[B, Nk, kv_dims]``.
            value (Tensor): ``[B, Nk, kv_dims]``.
            attn_mask (Tensor, optional): SDPA mask broadcastable to
                ``[B, h, Nq, Nk]``.

        Returns:
            Tensor: ``[B, Nq, out_dims]``.
        """
        B, Nq, _ = query.shape
        Nk = key.shape[1]
        q = self.q(query).view(B, Nq, self.num_heads, self.head_dims)
        k = self.k(key).view(B, Nk, self.num_heads, self.head_dims)
        v = self.v(value).view(B, Nk, self.num_heads, self.head_dims)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, h, N*, d]
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_drop if self.training else 0.)  # [B, h, Nq, d]
        x = x.transpose(1, 2).reshape(B, Nq, self.embed_dims)  # [B, Nq, C]
        return self.proj_drop(self.proj(x))


class AttentionPoolingBlock(nn.Module):
    """Pool tokens into a few vectors with one cross-attention layer.

    The queries are either the mean of the input tokens (``query='mean'``, one
    query; the InternVideo2 / InternVideo-Next ``clip_projector``) or learnable
    vectors (``query='learnable'``, any number; an attentive-probe pooling). The
    query, keys and values are normalised by separate norms; there is no residual
    connection and no MLP.

    Args:
        embed_dims (int): Input token width ``C``.
        num_heads (int): Number of heads; ``C`` must be divisible by it.
        out_dims (int, optional): Output width. Defaults to ``embed_dims``.
        qkv_bias (bool): Whether the q, k, v projections have biases.
            Defaults to True.
        norm_cfg (str | dict): Norm for query, keys and values. Defaults to
            ``dict(type='LN', eps=1e-5)``.
        query (str): ``'mean'`` or ``'learnable'``. Defaults to ``'mean'``.
        num_queries (int): Number of learnable queries; must be 1 for ``'mean'``.
            Defaults to 1.
        attn_drop (float): Dropout on the attention weights. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.

    Parameters: ``norm1_q``, ``norm1_k``, ``norm1_v``, ``cross_attn``
    (:class:`CrossAttention`), and ``query`` (``[1, num_queries, C]``) when the
    queries are learnable.
    """

    QUERY_TYPES = ('mean', 'learnable')

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 out_dims: Optional[int] = None,
                 qkv_bias: bool = True,
                 norm_cfg: NormCfg = None,
                 query: str = 'mean',
                 num_queries: int = 1,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if query not in self.QUERY_TYPES:
            raise ValueError(f'query must be one of {self.QUERY_TYPES}, '
                             f'got {query!r}.')
        if num_queries < 1 or (query == 'mean' and num_queries != 1):
            raise ValueError(f'num_queries must be >= 1, and 1 for the mean '
                             f'query; got {num_queries} with query={query!r}.')
        if norm_cfg is None:
            norm_cfg = dict(type='LN', eps=1e-5)
        self.query_type = query
        self.num_queries = num_queries
        self.out_dims = embed_dims if out_dims is None else out_dims

        if query == 'learnable':
            self.query = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
            nn.init.trunc_normal_(self.query, std=.02)
        self.norm1_q = build_norm(norm_cfg, embed_dims)
        self.norm1_k = build_norm(norm_cfg, embed_dims)
        self.norm1_v = build_norm(norm_cfg, embed_dims)
        self.cross_attn = CrossAttention(
            embed_dims, num_heads, out_dims=self.out_dims, qkv_bias=qkv_bias,
            attn_drop=attn_drop, proj_drop=proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x``.

        Args:
            x (Tensor): Tokens ``[B, N, C]``.

        Returns:
            Tensor: ``[B, num_queries, out_dims]``.
        """
        if self.query_type == 'mean':
            q = x.mean(dim=1, keepdim=True)  # [B, 1, C]
        else:
            q = self.query.expand(x.shape[0], -1, -1)  # [B, Q, C]
        return self.cross_attn(
            self.norm1_q(q), self.norm1_k(x), self.norm1_v(x))  # [B, Q, D]
