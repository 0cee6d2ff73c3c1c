"""Pre-norm transformer encoder layer and its parts (MLP, LayerScale)."""
from collections import OrderedDict
from typing import Optional

# ``LayerScale`` is timm's: per-channel ``x * gamma`` (CaiT), built as
# ``LayerScale(dim, init_values)``; ``reset_parameters()`` refills ``gamma`` with
# ``init_values`` (timm >= 1.0.22; 1.0.21 filled ones). Checked against that
# formula in tests/test_models/test_utils/test_library_swaps.py.
from timm.layers import DropPath, LayerScale, Mlp
from torch import Tensor, nn

from .attention import MultiheadSelfAttention
from .norm import NormCfg, build_norm


def mlp_decoder(in_dims: int, hidden_dims: int, out_dims: int) -> nn.Sequential:
    """The authors' ``MLP_Decoder`` without its L2 step: ``fc1 (in -> hidden)
    - GELU - fc2 (hidden -> out) - LayerNorm(eps 1e-5)``, with the module
    names ``fc1``, ``act``, ``fc2``, ``norm`` (the predictor's input
    projection, the token-alignment MLPs)."""
    return nn.Sequential(OrderedDict(
        fc1=nn.Linear(in_dims, hidden_dims), act=nn.GELU(),
        fc2=nn.Linear(hidden_dims, out_dims),
        norm=nn.LayerNorm(out_dims, eps=1e-5)))


#: Two-layer MLP with exact GELU, ``drop2(fc2(drop1(gelu(fc1(x)))))``: timm's
#: ``Mlp(in_features, hidden_features, drop=0., bias=True)``; the output width
#: is the input width. Parameters ``fc1.*``, ``fc2.*``. Checked equal to that
#: formula in tests/test_models/test_utils/test_library_swaps.py.
MLP = Mlp


class TransformerEncoderLayer(nn.Module):
    """Pre-norm ViT block.

    ``x = x + drop_path(ls1(attn(norm1(x))))``, then
    ``x = x + drop_path(ls2(mlp(norm2(x))))``.

    Args:
        embed_dims (int): Token width ``C``.
        num_heads (int): Attention heads.
        feedforward_channels (int): MLP hidden width.
        qkv_bias (bool): Bias on the qkv projection. Defaults to True.
        qk_norm (str | dict | None): QK norm, see
            :class:`~mmivnext.models.utils.attention.MultiheadSelfAttention`.
            Defaults to None.
        qk_norm_across_heads (bool): See ``MultiheadSelfAttention``.
            Defaults to False.
        layer_scale_init_value (float): Initial LayerScale value; 0 disables
            LayerScale (``ls1`` / ``ls2`` are identities). Defaults to 0.
        drop_rate (float): Dropout after the attention projection and in the MLP.
            Defaults to 0.
        attn_drop_rate (float): Dropout on attention weights. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate of both residual branches.
            Defaults to 0.
        norm_cfg (str | dict): Norm of ``norm1`` / ``norm2``. Defaults to
            ``dict(type='LN', eps=1e-6)``.

    Parameters: ``norm1``, ``attn``, ``ls1.gamma``, ``norm2``, ``mlp.fc1``,
    ``mlp.fc2``, ``ls2.gamma``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 qkv_bias: bool = True,
                 qk_norm: NormCfg = None,
                 qk_norm_across_heads: bool = False,
                 layer_scale_init_value: float = 0.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: NormCfg = None) -> None:
        super().__init__()
        if norm_cfg is None:
            norm_cfg = dict(type='LN', eps=1e-6)
        self.norm1 = build_norm(norm_cfg, embed_dims)
        self.attn = MultiheadSelfAttention(
            embed_dims, num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm,
            qk_norm_across_heads=qk_norm_across_heads,
            attn_drop=attn_drop_rate, proj_drop=drop_rate)
        self.norm2 = build_norm(norm_cfg, embed_dims)
        self.mlp = MLP(embed_dims, feedforward_channels, drop=drop_rate)
        if layer_scale_init_value > 0:
            self.ls1 = LayerScale(embed_dims, layer_scale_init_value)
            self.ls2 = LayerScale(embed_dims, layer_scale_init_value)
        else:
            self.ls1 = nn.Identity()
            self.ls2 = nn.Identity()
        self.drop_path1 = DropPath(drop_path_rate)
        self.drop_path2 = DropPath(drop_path_rate)

    def forward(self, x: Tensor,
                rope_positions: Optional[Tensor] = None) -> Tensor:
        """``[B, N, C]`` -> ``[B, N, C]``; ``rope_positions`` (``[B or 1,
        N, 3]``, optional) turns on the attention's 3D RoPE."""
        x = x + self.drop_path1(self.ls1(self.attn(
            self.norm1(x), rope_positions=rope_positions)))
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x
