"""Simple probing head for video depth (paper Table 6 "w/ a simple probing
head", appendix A.3, after Scaling 4D Representations)."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import (MLP, CrossAttention, get_3d_sincos_pos_embed,
                     init_linear_and_norm_)


@MODELS.register_module()
class DepthProbeHead(BaseModule):
    """Cross-attention readout of log-depth with learnable queries.

    The output video of ``T`` frames at ``H x W`` (``num_frames``,
    ``img_size``) is cut into ``Q = T * (H / p) * (W / p)`` patches of
    ``p x p`` pixels (``p = patch_size``), one per frame in time. Each has a
    learnable query, to which a fixed 3D sin-cos position embedding of its
    ``(t, h, w)`` place is added. With ``D = embed_dims`` (1536, the paper's
    embedding dimension)::

        kv = norm_kv(in_proj(x))                 # [B, L, D]   tokens -> D
        q  = query + pos_embed                   # [B, Q, D]
        q  = q + attn(norm_q(q), kv, kv)         # one cross-attention layer
        q  = q + mlp(norm_mlp(q))                # MLP, ratio mlp_ratio
        y  = fc(norm_out(q))                     # [B, Q, p * p]
        log_depth = unpatchify(y)                # [B, T, H, W]

    ``x`` are the encoder's tokens, cls tokens included; they carry the
    encoder's own position information, so no embedding is added to them.
    Patches are unfolded row-major (``p`` rows of ``p`` pixels), queries in
    ``(t, h, w)`` order.

    **Positive depth.** The head predicts the natural log of the depth in
    metres; :meth:`predict` returns ``exp`` of it, which is positive. The
    bias of ``fc`` starts at ``log(init_depth)``, so that the first
    predictions are about ``init_depth`` metres everywhere.

    **Loss.** :meth:`loss` supervises the pixels whose ground truth lies in
    ``depth_range``.

    Args:
        in_channels (int): Token width ``C`` of the encoder.
        num_frames (int): Output frames ``T`` (the input frames).
        img_size (int | tuple[int, int]): Output ``(H, W)`` (the input size).
        patch_size (int): Output patch size ``p``; ``H`` and ``W`` must be
            multiples of it. Defaults to 14 (the encoder's).
        embed_dims (int): Width ``D`` of the queries and of the attention; a
            multiple of 16 (for the position embedding) and of
            ``num_heads``. Defaults to 1536.
        num_heads (int): Attention heads. Defaults to 16.
        mlp_ratio (float): MLP hidden width over ``D``. Defaults to 4.
        qkv_bias (bool): Bias on the q, k, v projections. Defaults to True.
        init_depth (float): Depth in metres the head first predicts.
            Defaults to 1.
        depth_range (tuple[float, float]): ``(min, max)`` metres of the
            supervised ground truth (open interval). Defaults to
            ``(1e-3, 80.)``.
        loss (dict): Loss on ``(log_depth, gt_depth, valid)``. Defaults to
            ``dict(type='mmivnext.SILogLoss')``.
        init_std (float): Std of the trunc-normal init of the linear layers
            (biases 0, except ``fc``) and of the queries. Defaults to 0.02.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.

    Parameters: ``in_proj`` (``Linear(C, D)``), ``norm_kv``, ``query``
    (``[1, Q, D]``), ``norm_q``, ``attn`` (:class:`CrossAttention`),
    ``norm_mlp``, ``mlp``, ``norm_out``, ``fc`` (``Linear(D, p * p)``).
    Buffer (not saved): ``pos_embed`` (``[1, Q, D]``).
    """

    def __init__(self,
                 in_channels: int,
                 num_frames: int,
                 img_size: Union[int, Sequence[int]],
                 patch_size: int = 14,
                 embed_dims: int = 1536,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 init_depth: float = 1.,
                 depth_range: Tuple[float, float] = (1e-3, 80.),
                 loss: dict = dict(type='mmivnext.SILogLoss'),
                 init_std: float = 0.02,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        height, width = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)
        if num_frames < 1 or patch_size < 1 or height % patch_size or \
                width % patch_size:
            raise ValueError(
                f'img_size ({height}, {width}) must be a multiple of '
                f'patch_size {patch_size}, and num_frames ({num_frames}) '
                '>= 1')
        if not init_depth > 0:
            raise ValueError(f'init_depth must be > 0 metres, got '
                             f'{init_depth}')
        low, high = depth_range
        if not 0 <= low < high:
            raise ValueError(f'depth_range must be (min, max) with 0 <= min '
                             f'< max, got {depth_range}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.patch_size = patch_size
        self.out_size = (num_frames, height, width)
        self.query_grid = (num_frames, height // patch_size,
                           width // patch_size)
        self.init_depth = init_depth
        self.depth_range = (float(low), float(high))
        self.init_std = init_std
        num_queries = math.prod(self.query_grid)

        self.in_proj = nn.Linear(in_channels, embed_dims)
        self.norm_kv = nn.LayerNorm(embed_dims, eps=1e-6)
        self.query = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.register_buffer(
            'pos_embed',
            get_3d_sincos_pos_embed(embed_dims, self.query_grid).unsqueeze(0),
            persistent=False)  # [1, Q, D]
        self.norm_q = nn.LayerNorm(embed_dims, eps=1e-6)
        self.attn = CrossAttention(embed_dims, num_heads, qkv_bias=qkv_bias)
        self.norm_mlp = nn.LayerNorm(embed_dims, eps=1e-6)
        self.mlp = MLP(embed_dims, int(embed_dims * mlp_ratio))
        self.norm_out = nn.LayerNorm(embed_dims, eps=1e-6)
        self.fc = nn.Linear(embed_dims, patch_size * patch_size)
        self.loss_module = MODELS.build(loss)
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        init_linear_and_norm_(self, self.init_std)
        nn.init.trunc_normal_(self.query, std=self.init_std)
        nn.init.constant_(self.fc.bias, math.log(self.init_depth))

    def forward(self, x: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Predict the log-depth of the clip.

        Args:
            x (Tensor | tuple[Tensor]): The encoder's tokens ``[B, L, C]``
                (``VisionTransformer3D(out_type='raw')``), or a tuple of one.

        Returns:
            Tensor: float32 log-depth ``[B, T, H, W]``.
        """
        if isinstance(x, (tuple, list)):
            if len(x) != 1:
                raise ValueError(f'expected one token tensor, got {len(x)} '
                                 '(use a single out_indices in the encoder)')
            x = x[0]
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f'expected tokens [B, L, {self.in_channels}], got '
                f"{tuple(x.shape)}; build the encoder with out_type='raw'")
        B = x.shape[0]
        kv = self.norm_kv(self.in_proj(x))  # [B, L, D]
        q = (self.query + self.pos_embed).expand(B, -1, -1)  # [B, Q, D]
        q = q + self.attn(self.norm_q(q), kv, kv)  # [B, Q, D]
        q = q + self.mlp(self.norm_mlp(q))  # [B, Q, D]
        patches = self.fc(self.norm_out(q)).float()  # [B, Q, p * p]
        return self.unpatchify(patches)

    def unpatchify(self, patches: Tensor) -> Tensor:
        """``[B, Q, p * p]`` patches in ``(t, h, w)`` order, pixels row-major
        -> ``[B, T, H, W]``."""
        T, Hq, Wq = self.query_grid
        p = self.patch_size
        x = patches.reshape(-1, T, Hq, Wq, p, p)  # [B, T, Hq, Wq, p, p]
        x = x.permute(0, 1, 2, 4, 3, 5)  # [B, T, Hq, p, Wq, p]
        return x.reshape(-1, T, Hq * p, Wq * p)  # [B, T, H, W]

    def gt_depth(self, data_samples: Sequence[BaseDataElement],
                 device: torch.device) -> Tensor:
        """Stack the samples' ``gt_depth`` into ``[B, T, H, W]``, checking
        that each is ``[T, H, W]`` of the output size."""
        depths = []
        for sample in data_samples:
            depth = sample.gt_depth
            if tuple(depth.shape) != self.out_size:
                raise ValueError(
                    f'gt_depth of window {sample.metainfo.get("window_start")}'
                    f' of {sample.metainfo.get("sequence")!r} has shape '
                    f'{tuple(depth.shape)}, but the head predicts '
                    f'{self.out_size} (T, H, W)')
            depths.append(depth)
        return torch.stack(depths).to(device=device, dtype=torch.float32)

    def loss(self, x: Union[Tensor, Sequence[Tensor]],
             data_samples: Sequence[BaseDataElement]) -> Dict[str, Tensor]:
        """The depth loss of a batch.

        Args:
            x (Tensor | tuple[Tensor]): As in :meth:`forward`.
            data_samples (list[BaseDataElement]): ``B`` samples with
                ``gt_depth`` ``[T, H, W]`` in metres (0 = invalid).

        Returns:
            dict[str, Tensor]: ``loss_depth``.
        """
        log_depth = self(x)  # [B, T, H, W]
        gt = self.gt_depth(data_samples, log_depth.device)  # [B, T, H, W]
        low, high = self.depth_range
        valid = (gt > low) & (gt < high)  # [B, T, H, W]
        return dict(loss_depth=self.loss_module(log_depth, gt, valid))

    def predict(self, x: Union[Tensor, Sequence[Tensor]],
                data_samples: Sequence[BaseDataElement]
                ) -> List[BaseDataElement]:
        """Write each sample's predicted depth.

        Args:
            x (Tensor | tuple[Tensor]): As in :meth:`forward`.
            data_samples (list[BaseDataElement]): ``B`` samples.

        Returns:
            list[BaseDataElement]: The same samples with ``pred_depth``,
            float32 ``[T, H, W]`` in metres (``exp`` of the log-depth).
        """
        depth = self(x).exp()  # [B, T, H, W]
        if len(data_samples) != depth.shape[0]:
            raise ValueError(f'got {len(data_samples)} data samples for a '
                             f'batch of {depth.shape[0]}')
        for sample, pred in zip(data_samples, depth):
            sample.pred_depth = pred
        return list(data_samples)
