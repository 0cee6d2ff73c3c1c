"""ModernBERT encoder layers for the predictor: transformers' own.

:class:`ModernBertLayer` is ``transformers``' ``ModernBertEncoderLayer`` (v5:
``transformers/models/modernbert/modeling_modernbert.py``), so it has the
checkpoint's parameter names and a checkpoint's ``layers.{i}.*`` entries load
unchanged:

* ``attn_norm`` (LayerNorm; an identity for the original layer 0), ``attn.Wqkv``
  (``Linear(D, 3D)``, output order q, k, v, each head-major), ``attn.Wo``;
* ``mlp_norm``, ``mlp.Wi`` (``Linear(D, 2F)``: input half, then gate half),
  ``mlp.Wo``; the MLP is the GLU ``Wo(act(input) * gate)``.

What this module fixes around it:

* attention runs through :func:`predictor_attention` (the config's
  ``attn_implementation`` is not used), whose kernel follows from the form of
  the mask the caller passes: none or a boolean
  ``[L, L]`` mask runs PyTorch's SDPA over all tokens; a :class:`SlidingWindow`
  runs SDPA block by block over the band of blocks the window reaches
  (:func:`blocked_sliding_window_attention`); a FlexAttention ``BlockMask``
  (:func:`sliding_window_block_mask`) runs ``flex_attention``, which skips
  the blocks outside the window;
* rotary position embeddings of positions ``0 .. L-1`` over the 1-D token
  sequence ("rotate-half" convention) come from transformers'
  ``ModernBertRotaryEmbedding`` but stay float32 whatever the activations'
  dtype (:func:`rotary_cos_sin`), so RoPE is applied in float32;
* a layer is either global (``full_attention``) or local
  (``sliding_attention``): a local layer's token ``i`` attends to the tokens
  ``j`` with ``|i - j| <= local_attention // 2`` (:func:`sliding_window_mask`,
  the window of transformers' own mask). Each type has its own RoPE base
  (ModernBERT-large: 160000 global, 10000 local). Which type a layer has is
  fixed by its index in the original model (``config.layer_types``), so a
  layer keeps its type when the last ``k`` layers are taken.

``tests/test_models/test_predictors/test_modernbert_layer.py`` checks the layer
against that formula, written out independently, and the three kernels of
a local layer against each other.
"""
import copy
import functools
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention.flex_attention import (BlockMask, create_block_mask,
                                               flex_attention)
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.models.modernbert.modeling_modernbert import (
    ModernBertEncoderLayer, ModernBertRotaryEmbedding)

#: ``config.layer_types`` values of ModernBERT.
GLOBAL_ATTENTION = 'full_attention'
LOCAL_ATTENTION = 'sliding_attention'


def rotary_cos_sin(config, layer_type: str, seq_len: int,
                   device: Optional[torch.device] = None
                   ) -> Tuple[Tensor, Tensor]:
    """Cosines and sines of the rotary embedding of positions ``0 .. L-1``.

    Args:
        config (transformers.ModernBertConfig): The model's config.
        layer_type (str): ``'full_attention'`` or ``'sliding_attention'``
            (their RoPE bases differ).
        seq_len (int): Sequence length ``L``.
        device (torch.device, optional): Device of the result.

    Returns:
        tuple[Tensor, Tensor]: float32 ``cos`` and ``sin``, each ``[1, L, d]``
        (transformers' ``ModernBertRotaryEmbedding`` asked for float32).
    """
    rope = ModernBertRotaryEmbedding(config, device=device)
    dtype_of = torch.empty(0, device=device)  # float32: only its dtype is read
    return rope(dtype_of, torch.arange(seq_len, device=device)[None],
                layer_type)


def sliding_window_mask(seq_len: int, half_window: int,
                        device: Optional[torch.device] = None) -> Tensor:
    """Boolean SDPA mask ``[L, L]``, True where ``|i - j| <= half_window``."""
    positions = torch.arange(seq_len, device=device)
    return (positions[:, None] - positions[None, :]).abs() <= half_window


@dataclass(frozen=True)
class SlidingWindow:
    """The attention mask of a local layer run by
    :func:`blocked_sliding_window_attention`: token ``i`` attends to the
    tokens ``j`` with ``|i - j| <= half_window``; queries go in blocks of
    ``block_size``."""
    half_window: int
    block_size: int


def blocked_sliding_window_attention(query: Tensor, key: Tensor, value: Tensor,
                                     window: SlidingWindow,
                                     scale: Optional[float] = None,
                                     dropout_p: float = 0.) -> Tensor:
    """Sliding-window attention computed only over the band of key blocks
    the window reaches.

    The ``L`` queries are cut into ``n = ceil(L / b)`` blocks of ``b =
    window.block_size``; block ``k`` attends to the ``b + 2 h`` keys
    ``k b - h .. (k + 1) b + h - 1`` (``h = window.half_window``), masked to
    ``|i - j| <= h`` and ``0 <= j < L``, in one batched SDPA call: about
    ``L (b + 2 h)`` scores instead of ``L^2``. Padded query rows attend to
    the padded keys and are dropped.

    Args:
        query, key, value (Tensor): ``[B, H, L, d]``.
        window (SlidingWindow): Half window and block size.
        scale (float, optional): Score scale; SDPA's ``d ** -0.5`` if None.
        dropout_p (float): Attention dropout. Defaults to 0.

    Returns:
        Tensor: ``[B, H, L, d]``, as SDPA with :func:`sliding_window_mask`.
    """
    B, H, L, d = query.shape
    h, b = window.half_window, window.block_size
    n = -(-L // b)
    pad = n * b - L
    span = b + 2 * h
    q = F.pad(query, (0, 0, 0, pad)).view(B, H, n, b, d)
    # Keys and values padded by h in front and h + pad behind; the window of
    # block k starts at padded position k b.
    k, v = (F.pad(t, (0, 0, h, h + pad)).unfold(2, span, b).transpose(-1, -2)
            for t in (key, value))  # [B, H, n, span, d]
    i = torch.arange(n * b, device=query.device).view(n, b, 1)
    j = (torch.arange(n, device=query.device).view(n, 1, 1) * b - h +
         torch.arange(span, device=query.device))  # [n, 1, span]
    mask = ((i - j).abs() <= h) & (j >= 0) & (j < L) | (i >= L)
    # [n, b, span]: broadcast over batch and heads, not copied per head.
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout_p,
        scale=scale)  # [B, H, n, b, d]
    return out.reshape(B, H, n * b, d)[:, :, :L]


@functools.lru_cache(maxsize=8)
def sliding_window_block_mask(seq_len: int, half_window: int,
                              device: Optional[torch.device] = None
                              ) -> BlockMask:
    """FlexAttention ``BlockMask`` of :func:`sliding_window_mask` (blocks of
    128 tokens; those outside the window are skipped). Cached: building one
    evaluates the window for every block pair (seconds on a CPU at 8196
    tokens)."""

    def in_window(batch, head, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() <= half_window

    return create_block_mask(in_window, None, None, seq_len, seq_len,
                             device=device)


_compiled_flex_attention = None


def _flex_attention(*args, **kwargs) -> Tensor:
    """``flex_attention`` compiled once (uncompiled it materialises every
    score)."""
    global _compiled_flex_attention
    if _compiled_flex_attention is None:
        _compiled_flex_attention = torch.compile(flex_attention)
    return _compiled_flex_attention(*args, **kwargs)


#: Masks a layer's ``attn_mask`` may be: the kernel follows from its form.
AttentionMask = Union[None, Tensor, SlidingWindow, BlockMask]


def predictor_attention(module: nn.Module, query: Tensor, key: Tensor,
                        value: Tensor, attention_mask: AttentionMask,
                        dropout: float = 0., scaling: Optional[float] = None,
                        **kwargs) -> Tuple[Tensor, None]:
    """The attention function of every :class:`ModernBertLayer`
    (transformers' attention-interface signature, registered as
    ``'mmivnext_predictor'``).

    Args:
        module (nn.Module): The calling ``ModernBertAttention``.
        query, key, value (Tensor): ``[B, H, L, d]``.
        attention_mask: None (global) or a boolean ``[L, L]`` mask: SDPA over
            all tokens (transformers' ``sdpa`` function); a
            :class:`SlidingWindow`: :func:`blocked_sliding_window_attention`;
            a ``BlockMask``: compiled ``flex_attention`` (no backward on CPU
            in torch 2.13).
        dropout (float): Attention dropout.
        scaling (float, optional): Score scale.
        **kwargs: transformers' other arguments (``sliding_window``,
            ``deterministic``), passed on to its ``sdpa`` function.

    Returns:
        tuple[Tensor, None]: ``[B, L, H, d]`` and no attention weights.
    """
    if isinstance(attention_mask, SlidingWindow):
        out = blocked_sliding_window_attention(query, key, value,
                                               attention_mask, scaling, dropout)
    elif isinstance(attention_mask, BlockMask):
        if dropout:
            raise ValueError('flex_attention has no attention dropout; use '
                             "local_attn_kernel='blocked' with dropout.")
        out = _flex_attention(query, key, value, block_mask=attention_mask,
                              scale=scaling)
    else:
        return sdpa_attention_forward(module, query, key, value,
                                      attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register('mmivnext_predictor', predictor_attention)


class ModernBertLayer(ModernBertEncoderLayer):
    """Layer ``layer_idx`` of a ModernBERT model (module docstring).

    Args:
        config (transformers.ModernBertConfig): The model's config (v5: with
            ``layer_types`` and ``rope_parameters``).
        layer_idx (int): Index of the layer in that model; fixes its attention
            type and RoPE base.

    The layer is randomly initialised by PyTorch's defaults (see
    :meth:`reset_parameters` for ModernBERT's init).

    Attributes:
        rope_theta (float): RoPE base of the layer's attention type.
        half_window (int | None): Local attention reach
            ``local_attention // 2``; None for a global layer.
    """

    def __init__(self, config, layer_idx: int) -> None:
        layer_type = config.layer_types[layer_idx]
        if layer_type not in (GLOBAL_ATTENTION, LOCAL_ATTENTION):
            raise ValueError(f'Unknown ModernBERT layer type {layer_type!r} of '
                             f'layer {layer_idx}.')
        rope = config.rope_parameters[layer_type]
        if rope.get('rope_type', 'default') != 'default':
            raise NotImplementedError(
                f'Only the default RoPE is supported; layer {layer_idx} has '
                f"rope_type {rope['rope_type']!r}.")
        if config._attn_implementation != 'mmivnext_predictor':
            config = copy.deepcopy(config)
            config._attn_implementation = 'mmivnext_predictor'
        super().__init__(config, layer_idx)
        self.rope_theta = float(rope['rope_theta'])
        self.half_window = None if layer_type == GLOBAL_ATTENTION else \
            config.local_attention // 2

    @property
    def is_global(self) -> bool:
        """Whether the layer attends over the whole sequence."""
        return self.half_window is None

    @torch.no_grad()
    def reset_parameters(self, std: float, out_std: float,
                         cutoff_factor: float) -> None:
        """ModernBERT's random init (``ModernBertPreTrainedModel._init_weights``).

        ``Wqkv`` / ``Wi`` get a normal of ``std`` truncated at ``cutoff_factor``
        standard deviations, the two output projections ``Wo`` one of
        ``out_std`` (ModernBERT: ``std / sqrt(2 num_hidden_layers)``), biases
        zero, norms one / zero.
        """
        for linear, s in ((self.attn.Wqkv, std), (self.attn.Wo, out_std),
                          (self.mlp.Wi, std), (self.mlp.Wo, out_std)):
            nn.init.trunc_normal_(linear.weight, std=s, a=-cutoff_factor * s,
                                  b=cutoff_factor * s)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
        for norm in (self.attn_norm, self.mlp_norm):
            if isinstance(norm, nn.LayerNorm):
                norm.reset_parameters()

    def forward(self, x: Tensor, rope: Tuple[Tensor, Tensor],
                attn_mask: AttentionMask = None) -> Tensor:
        """Run the layer.

        Args:
            x (Tensor): ``[B, L, D]``.
            rope (tuple[Tensor, Tensor]): ``cos``, ``sin`` of
                :func:`rotary_cos_sin` for this layer's attention type.
            attn_mask: None for a global layer; for a local one, this layer's
                window as :func:`sliding_window_mask`, a :class:`SlidingWindow`
                or :func:`sliding_window_block_mask` (it picks the kernel,
                :func:`predictor_attention`).

        Returns:
            Tensor: ``[B, L, D]``.
        """
        return super().forward(x, attention_mask=attn_mask,
                               position_embeddings=rope)
