"""A ModernBERT encoder layer that runs on any attention backend.

Computes the same function as ``transformers``' ``ModernBertEncoderLayer``
(v5: ``transformers/models/modernbert/modeling_modernbert.py``) with the same
parameter names, so a checkpoint's ``layers.{i}.*`` entries load unchanged:

* ``attn_norm`` (LayerNorm; an identity for the original layer 0), ``attn.Wqkv``
  (``Linear(D, 3D)``, output order q, k, v, each head-major), ``attn.Wo``;
* ``mlp_norm``, ``mlp.Wi`` (``Linear(D, 2F)``: input half, then gate half),
  ``mlp.Wo``; the MLP is the GLU ``Wo(act(input) * gate)``.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` over a 1-D
token sequence with rotary position embeddings (positions ``0 .. L-1``, the
"rotate-half" convention, applied in float32). A layer is either global
(``full_attention``) or local (``sliding_attention``): a local layer's token ``i``
attends to the tokens ``j`` with ``|i - j| <= local_attention // 2``. Each type has
its own RoPE base (ModernBERT-large: 160000 global, 10000 local). Which type a
layer has is fixed by its index in the original model (``config.layer_types``),
so a layer keeps its type when the last ``k`` layers are taken.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ``config.layer_types`` values of ModernBERT.
GLOBAL_ATTENTION = 'full_attention'
LOCAL_ATTENTION = 'sliding_attention'


def rotary_cos_sin(seq_len: int, head_dims: int, theta: float,
                   device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
    """Cosines and sines of the rotary embedding of positions ``0 .. L-1``.

    Args:
        seq_len (int): Sequence length ``L``.
        head_dims (int): Head width ``d`` (even).
        theta (float): RoPE base.
        device (torch.device, optional): Device of the result.

    Returns:
        tuple[Tensor, Tensor]: float32 ``cos`` and ``sin``, each ``[L, d]``; the
        frequencies ``theta ** (-2i / d)`` are repeated over the two halves.
    """
    inv_freq = 1.0 / theta**(torch.arange(
        0, head_dims, 2, dtype=torch.int64, device=device).float() / head_dims)
    positions = torch.arange(seq_len, device=device).float()
    freqs = torch.outer(positions, inv_freq)  # [L, d/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [L, d]
    return emb.cos(), emb.sin()


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate queries or keys ``[B, h, L, d]`` by ``cos`` / ``sin`` ``[L, d]``
    (in float32; the result has ``x``'s dtype)."""
    x32 = x.float()
    return (x32 * cos + _rotate_half(x32) * sin).to(x.dtype)


def sliding_window_mask(seq_len: int, half_window: int,
                        device: Optional[torch.device] = None) -> Tensor:
    """Boolean SDPA mask ``[L, L]``, True where ``|i - j| <= half_window``."""
    positions = torch.arange(seq_len, device=device)
    return (positions[:, None] - positions[None, :]).abs() <= half_window


class ModernBertAttention(nn.Module):
    """ModernBERT self-attention (no biases by default) with RoPE.

    Args:
        embed_dims (int): Width ``D``.
        num_heads (int): Heads ``h``; ``D`` must be divisible by it.
        bias (bool): Biases on ``Wqkv`` / ``Wo``. Defaults to False.
        attn_drop (float): Dropout on the attention weights and after ``Wo``
            (training only), as ModernBERT's ``attention_dropout``.
            Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 bias: bool = False,
                 attn_drop: float = 0.) -> None:
        super().__init__()
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'hidden_size ({embed_dims}) must be divisible by '
                             f'num_attention_heads ({num_heads}).')
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.Wqkv = nn.Linear(embed_dims, 3 * embed_dims, bias=bias)
        self.Wo = nn.Linear(embed_dims, embed_dims, bias=bias)
        self.out_drop = nn.Dropout(attn_drop)

    def forward(self, x: Tensor, rope: Tuple[Tensor, Tensor],
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """Attend over the tokens of ``x``.

        Args:
            x (Tensor): ``[B, L, D]``.
            rope (tuple[Tensor, Tensor]): ``cos``, ``sin`` ``[L, d]`` of
                :func:`rotary_cos_sin`.
            attn_mask (Tensor, optional): Boolean SDPA mask ``[L, L]`` (True:
                may attend); None for global attention.

        Returns:
            Tensor: ``[B, L, D]``.
        """
        B, L, D = x.shape
        qkv = self.Wqkv(x).view(B, L, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, h, L, d]
        cos, sin = rope
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_drop if self.training else 0.)  # [B, h, L, d]
        x = x.transpose(1, 2).reshape(B, L, D)
        return self.out_drop(self.Wo(x))


class ModernBertMLP(nn.Module):
    """ModernBERT's GLU MLP: ``Wo(drop(act(input) * gate))`` with
    ``input, gate = Wi(x).chunk(2)``.

    Args:
        embed_dims (int): Width ``D``.
        hidden_dims (int): GLU width ``F`` (``intermediate_size``).
        act (nn.Module): Activation (ModernBERT: exact GELU).
        bias (bool): Biases on ``Wi`` / ``Wo``. Defaults to False.
        drop (float): Dropout before ``Wo``. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 act: nn.Module,
                 bias: bool = False,
                 drop: float = 0.) -> None:
        super().__init__()
        self.Wi = nn.Linear(embed_dims, 2 * hidden_dims, bias=bias)
        self.act = act
        self.drop = nn.Dropout(drop)
        self.Wo = nn.Linear(hidden_dims, embed_dims, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., D]`` -> ``[..., D]``."""
        x, gate = self.Wi(x).chunk(2, dim=-1)  # each [..., F]
        return self.Wo(self.drop(self.act(x) * gate))


class ModernBertLayer(nn.Module):
    """One pre-norm ModernBERT encoder layer (module docstring).

    Build it with :meth:`from_config` from a ``ModernBertConfig`` and the
    layer's index in that model, which fixes its attention type and RoPE base.

    Args:
        embed_dims (int): Width ``D`` (``hidden_size``).
        num_heads (int): Heads (``num_attention_heads``).
        feedforward_channels (int): GLU width (``intermediate_size``).
        act (nn.Module): MLP activation (``ACT2FN[hidden_activation]``).
        rope_theta (float): RoPE base of this layer's attention type.
        half_window (int, optional): Local attention reach
            ``local_attention // 2``; None for a global layer.
        attn_norm (bool): Whether there is a LayerNorm before the attention
            (ModernBERT: all layers but layer 0). Defaults to True.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-5.
        norm_bias (bool): LayerNorm bias. Defaults to False.
        attn_bias (bool): Attention biases. Defaults to False.
        mlp_bias (bool): MLP biases. Defaults to False.
        attn_drop (float): ``attention_dropout``. Defaults to 0.
        mlp_drop (float): ``mlp_dropout``. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 act: nn.Module,
                 rope_theta: float,
                 half_window: Optional[int] = None,
                 attn_norm: bool = True,
                 norm_eps: float = 1e-5,
                 norm_bias: bool = False,
                 attn_bias: bool = False,
                 mlp_bias: bool = False,
                 attn_drop: float = 0.,
                 mlp_drop: float = 0.) -> None:
        super().__init__()
        self.rope_theta = float(rope_theta)
        self.half_window = half_window
        self.attn_norm = nn.LayerNorm(embed_dims, eps=norm_eps, bias=norm_bias) \
            if attn_norm else nn.Identity()
        self.attn = ModernBertAttention(embed_dims, num_heads, bias=attn_bias,
                                        attn_drop=attn_drop)
        self.mlp_norm = nn.LayerNorm(embed_dims, eps=norm_eps, bias=norm_bias)
        self.mlp = ModernBertMLP(embed_dims, feedforward_channels, act,
                                 bias=mlp_bias, drop=mlp_drop)

    @property
    def is_global(self) -> bool:
        """Whether the layer attends over the whole sequence."""
        return self.half_window is None

    @classmethod
    def from_config(cls, config, layer_idx: int) -> 'ModernBertLayer':
        """Build layer ``layer_idx`` of a ModernBERT model.

        Args:
            config (transformers.ModernBertConfig): The model's config (v5:
                with ``layer_types`` and ``rope_parameters``).
            layer_idx (int): Index of the layer in that model.

        Returns:
            ModernBertLayer: The layer, randomly initialised by PyTorch's
            defaults (see :meth:`reset_parameters` for ModernBERT's init).
        """
        from transformers.activations import ACT2FN

        layer_type = config.layer_types[layer_idx]
        if layer_type not in (GLOBAL_ATTENTION, LOCAL_ATTENTION):
            raise ValueError(f'Unknown ModernBERT layer type {layer_type!r} of '
                             f'layer {layer_idx}.')
        rope = config.rope_parameters[layer_type]
        if rope.get('rope_type', 'default') != 'default':
            raise NotImplementedError(
                f'Only the default RoPE is supported; layer {layer_idx} has '
                f"rope_type {rope['rope_type']!r}.")
        return cls(
            config.hidden_size, config.num_attention_heads,
            config.intermediate_size, ACT2FN[config.hidden_activation],
            rope_theta=rope['rope_theta'],
            half_window=None if layer_type == GLOBAL_ATTENTION else
            config.local_attention // 2,
            attn_norm=layer_idx != 0, norm_eps=config.norm_eps,
            norm_bias=config.norm_bias, attn_bias=config.attention_bias,
            mlp_bias=config.mlp_bias, attn_drop=config.attention_dropout,
            mlp_drop=config.mlp_dropout)

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
            rope (tuple[Tensor, Tensor]): ``cos``, ``sin`` ``[L, d]`` for this
                layer's ``rope_theta``.
            attn_mask (Tensor, optional): :func:`sliding_window_mask` of this
                layer's ``half_window`` for a local layer; None for a global one.

        Returns:
            Tensor: ``[B, L, D]``.
        """
        x = x + self.attn(self.attn_norm(x), rope, attn_mask)
        return x + self.mlp(self.mlp_norm(x))
