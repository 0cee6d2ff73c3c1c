"""Box-tracking probe head (paper appendix A.4, after Scaling 4D
Representations): first-frame boxes in, boxes of the other frames out."""
import math
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import get_3d_sincos_pos_embed, init_linear_and_norm_
from ..utils.box_ops import box_cxcywh_to_xyxy, box_xyxy_to_cxcywh
from .probe_heads import CrossAttentionBlock


def fourier_box_encoding(boxes: Tensor, num_bands: int) -> Tensor:
    """Boxes and their Fourier features.

    Each coordinate ``v`` gives ``v`` and, for ``k = 0 .. num_bands - 1``,
    ``sin(2^k pi v)`` and ``cos(2^k pi v)``.

    Args:
        boxes (Tensor): ``[..., 4]`` normalised boxes.
        num_bands (int): Frequencies per coordinate (0: the boxes alone).

    Returns:
        Tensor: ``[..., 4 * (1 + 2 * num_bands)]``, the 4 coordinates first,
        then all sines, then all cosines (each coordinate-major).
    """
    if num_bands == 0:
        return boxes
    freqs = math.pi * 2.**torch.arange(
        num_bands, dtype=boxes.dtype, device=boxes.device)  # [F]
    angles = (boxes.unsqueeze(-1) * freqs).flatten(-2)  # [..., 4F]
    return torch.cat([boxes, angles.sin(), angles.cos()], dim=-1)


@MODELS.register_module()
class BoxTrackingHead(BaseModule):
    """Track boxes given in the first frame through the other frames.

    For a window of ``T`` frames and ``N`` objects per sample:

    1. **Query encoder.** Each first-frame box ``(x1, y1, x2, y2)``
       (normalised to ``[0, 1]``) and its Fourier features
       (:func:`fourier_box_encoding`) go through an MLP
       ``Linear -> GELU -> Linear`` to one query of width ``D`` per object.
    2. **Tokens.** The encoder's feature map ``[B, C, T', H', W']`` is
       flattened to ``T'H'W'`` tokens and projected to ``D`` by a linear layer;
       the fixed 3D sin-cos embedding of the ``(T', H', W')`` grid is added
       (``with_pos_embed``), so that where a query attends says where the
       object is.
    3. **One cross-attention layer.** The queries attend over the tokens with
       one pre-norm :class:`~mmivnext.models.heads.CrossAttentionBlock`
       (attention and MLP, each with a residual). Queries do not attend to
       each other, so an object's prediction does not depend on the other
       objects of its window, padding included.
    4. **Linear box regressor.** A LayerNorm and one linear layer give
       ``(T - 1) x 4`` numbers per object, read as the logits of normalised
       ``(cx, cy, w, h)`` of frames ``2 .. T``: ``box = sigmoid(out)``, or with
       ``residual_to_first_box`` ``box = sigmoid(logit(first box) + out)``, so
       that a zero output predicts a still object (the first box again).
       Boxes are returned as ``(x1, y1, x2, y2)``; they may reach a little
       outside ``[0, 1]`` when a wide box is near a border.

    The head owns its losses (:meth:`loss`): ``loss_bbox`` and ``loss_giou``
    on normalised ``(x1, y1, x2, y2)`` over the visible (object, frame) pairs
    of frames ``2 .. T``.

    Args:
        in_channels (int): Token width ``C`` of the encoder.
        num_frames (int): Frames ``T`` of a window; ``T - 1`` boxes are
            predicted per object. Defaults to 16.
        embed_dims (int): Head width ``D``. Defaults to 1024.
        num_heads (int): Attention heads. Defaults to 16.
        mlp_ratio (float): MLP hidden width over ``D`` in the cross-attention
            block. Defaults to 4.
        num_fourier_bands (int): Fourier frequencies per box coordinate in
            the query encoder (0: coordinates only). Defaults to 8.
        with_pos_embed (bool): Add the 3D sin-cos grid embedding to the
            projected tokens (needs ``D`` divisible by 16). Defaults to True.
        residual_to_first_box (bool): Predict relative to the first box (see
            step 4). Defaults to True.
        loss_bbox (dict): Smooth L1 loss config. Defaults to
            ``dict(type='mmivnext.BoxSmoothL1Loss', beta=0.1,
            loss_weight=1.0)``.
        loss_giou (dict): GIoU loss config. Defaults to
            ``dict(type='mmivnext.GIoULoss', loss_weight=0.5)``.
        init_std (float): Std of the trunc-normal init of the linear layers
            (biases 0, LayerNorms 1 / 0). Defaults to 0.02.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.

    Parameters: ``query_encoder`` (``Linear(4(1 + 2F), D)``, GELU,
    ``Linear(D, D)``), ``token_proj`` (``Linear(C, D)``), ``cross_block``
    (:class:`CrossAttentionBlock`), ``norm``, ``regressor``
    (``Linear(D, 4(T - 1))``).
    """

    #: Floor / ceiling of the first box's ``(cx, cy, w, h)`` before its logit.
    LOGIT_EPS = 1e-4

    def __init__(self,
                 in_channels: int,
                 num_frames: int = 16,
                 embed_dims: int = 1024,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 num_fourier_bands: int = 8,
                 with_pos_embed: bool = True,
                 residual_to_first_box: bool = True,
                 loss_bbox: Dict = dict(
                     type='mmivnext.BoxSmoothL1Loss', beta=0.1,
                     loss_weight=1.0),
                 loss_giou: Dict = dict(type='mmivnext.GIoULoss',
                                        loss_weight=0.5),
                 init_std: float = 0.02,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_frames < 2:
            raise ValueError(f'num_frames must be >= 2, got {num_frames}.')
        if num_fourier_bands < 0:
            raise ValueError(f'num_fourier_bands must be >= 0, got '
                             f'{num_fourier_bands}.')
        if with_pos_embed and embed_dims % 16:
            raise ValueError(f'with_pos_embed needs embed_dims divisible by '
                             f'16, got {embed_dims}.')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.embed_dims = embed_dims
        self.num_fourier_bands = num_fourier_bands
        self.with_pos_embed = with_pos_embed
        self.residual_to_first_box = residual_to_first_box
        self.init_std = init_std

        query_dims = 4 * (1 + 2 * num_fourier_bands)
        self.query_encoder = nn.Sequential(
            nn.Linear(query_dims, embed_dims), nn.GELU(),
            nn.Linear(embed_dims, embed_dims))
        self.token_proj = nn.Linear(in_channels, embed_dims)
        self.cross_block = CrossAttentionBlock(embed_dims, num_heads,
                                               mlp_ratio=mlp_ratio)
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.regressor = nn.Linear(embed_dims, 4 * (num_frames - 1))
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_giou = MODELS.build(loss_giou)
        self._pos_embed_cache: Dict[Tuple[int, int, int], Tensor] = {}
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        init_linear_and_norm_(self, self.init_std)

    def _pos_embed(self, grid: Tuple[int, int, int], x: Tensor) -> Tensor:
        """The ``[1, T'H'W', D]`` sin-cos embedding of ``grid``, cached."""
        if grid not in self._pos_embed_cache:
            self._pos_embed_cache[grid] = get_3d_sincos_pos_embed(
                self.embed_dims, grid).unsqueeze(0)
        return self._pos_embed_cache[grid].to(x.device, x.dtype)

    def forward(self, feats: Tensor, first_boxes: Tensor) -> Tensor:
        """Predict the boxes of frames ``2 .. T``.

        Args:
            feats (Tensor): Encoder feature map ``[B, C, T', H', W']``
                (``VisionTransformer3D(out_type='featmap')``).
            first_boxes (Tensor): ``[B, N, 4]`` normalised ``(x1, y1, x2,
                y2)`` boxes of the first frame (padding rows are allowed:
                they only produce their own, ignored, outputs).

        Returns:
            Tensor: ``[B, N, T - 1, 4]`` normalised ``(x1, y1, x2, y2)``.
        """
        if feats.dim() != 5 or feats.shape[1] != self.in_channels:
            raise ValueError(f'Expected a feature map [B, {self.in_channels}, '
                             f"T', H', W'] (backbone out_type='featmap'), got "
                             f'{tuple(feats.shape)}.')
        B, N = first_boxes.shape[:2]
        if first_boxes.shape != (B, N, 4) or B != feats.shape[0]:
            raise ValueError(f'Expected first_boxes [B={feats.shape[0]}, N, '
                             f'4], got {tuple(first_boxes.shape)}.')
        grid = tuple(feats.shape[2:])
        tokens = self.token_proj(feats.flatten(2).transpose(1, 2))  # [B, L, D]
        if self.with_pos_embed:
            tokens = tokens + self._pos_embed(grid, tokens)
        first_boxes = first_boxes.to(tokens.dtype)
        queries = self.query_encoder(fourier_box_encoding(
            first_boxes, self.num_fourier_bands))  # [B, N, D]
        queries = self.cross_block(queries, tokens)  # [B, N, D]
        out = self.regressor(self.norm(queries))  # [B, N, 4 (T - 1)]
        out = out.view(B, N, self.num_frames - 1, 4).float()
        if self.residual_to_first_box:
            first = box_xyxy_to_cxcywh(first_boxes.float()).clamp(
                self.LOGIT_EPS, 1 - self.LOGIT_EPS)  # [B, N, 4]
            out = out + torch.logit(first).unsqueeze(2)
        return box_cxcywh_to_xyxy(out.sigmoid())  # [B, N, T - 1, 4]

    def loss(self, feats: Tensor, first_boxes: Tensor, gt_boxes: Tensor,
             valid: Tensor) -> Dict[str, Tensor]:
        """Losses over the visible (object, frame) pairs of frames 2 .. T.

        Args:
            feats (Tensor): ``[B, C, T', H', W']`` encoder features.
            first_boxes (Tensor): ``[B, N, 4]`` normalised first-frame boxes.
            gt_boxes (Tensor): ``[B, N, T, 4]`` normalised target boxes.
            valid (Tensor): ``[B, N, T]`` bool: the object exists (not
                padding) and is visible in the frame.

        Returns:
            dict: ``loss_bbox`` and ``loss_giou`` (scalars).
        """
        expected = first_boxes.shape[:2] + (self.num_frames, )
        if gt_boxes.shape != expected + (4, ) or valid.shape != expected:
            raise ValueError(
                f'Expected gt_boxes {list(expected) + [4]} and valid '
                f'{list(expected)} (num_frames={self.num_frames}), got '
                f'{tuple(gt_boxes.shape)} and {tuple(valid.shape)}.')
        pred = self(feats, first_boxes)  # [B, N, T - 1, 4]
        keep = valid[:, :, 1:]  # [B, N, T - 1]
        pred, target = pred[keep], gt_boxes[:, :, 1:][keep].float()  # [M, 4]
        return dict(loss_bbox=self.loss_bbox(pred, target),
                    loss_giou=self.loss_giou(pred, target))
