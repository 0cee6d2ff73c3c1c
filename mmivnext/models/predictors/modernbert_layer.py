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

* attention always runs through :func:`torch.nn.functional.
  scaled_dot_product_attention` (any device; the config's
  ``attn_implementation`` is not used);
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
against that formula, written out independently.
"""
import copy
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
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
        if config._attn_implementation != 'sdpa':
            config = copy.deepcopy(config)
            config._attn_implementation = 'sdpa'
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
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """Run the layer.

        Args:
            x (Tensor): ``[B, L, D]``.
            rope (tuple[Tensor, Tensor]): ``cos``, ``sin`` of
                :func:`rotary_cos_sin` for this layer's attention type.
            attn_mask (Tensor, optional): :func:`sliding_window_mask` of this
                layer's ``half_window`` for a local layer; None for a global one.

        Returns:
            Tensor: ``[B, L, D]``.
        """
        return super().forward(x, attention_mask=attn_mask,
                               position_embeddings=rope)
