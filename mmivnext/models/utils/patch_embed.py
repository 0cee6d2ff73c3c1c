"""3D patch embedding, and the patch pixel order it shares with pixel targets.

A video ``[B, C, T, H, W]`` is cut into tubelets of ``(tubelet, ph, pw)`` pixels.
Patches are ordered ``(t, h, w)`` (``w`` fastest), and the pixels inside a patch
``(tubelet, ph, pw, C)`` (channel fastest), as in InternVideo2 / InternVideo-Next.
"""
from typing import Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from .norm import NormCfg, build_norm


def _pair(x: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(x, int):
        return x, x
    x = tuple(x)
    if len(x) != 2:
        raise ValueError(f'Expected an int or a pair, got {x}.')
    return int(x[0]), int(x[1])


def patchify_3d(x: Tensor,
                patch_size: Union[int, Sequence[int]],
                tubelet_size: int,
                channel_major: bool = False) -> Tensor:
    """Cut a video into flattened patches.

    Args:
        x (Tensor): ``[B, C, T, H, W]``; each of ``T, H, W`` divisible by the
            patch's size along it.
        patch_size (int | Sequence[int]): ``p`` or ``(ph, pw)``.
        tubelet_size (int): Frames per patch.
        channel_major (bool): Flatten each patch in ``(C, tubelet, ph, pw)``
            order (the pixel targets of Stage 1) instead of
            ``(tubelet, ph, pw, C)`` (the order of the released encoder's
            pixel norm). Defaults to False.

    Returns:
        Tensor: ``[B, T' * H' * W', tubelet * ph * pw * C]``.
    """
    ph, pw = _pair(patch_size)
    B, C, T, H, W = x.shape
    t, h, w = T // tubelet_size, H // ph, W // pw
    x = x.reshape(B, C, t, tubelet_size, h, ph, w, pw)
    if channel_major:
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # [B, t, h, w, C, tub, ph, pw]
    else:
        x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # [B, t, h, w, tub, ph, pw, C]
    return x.reshape(B, t * h * w, tubelet_size * ph * pw * C)


def unpatchify_3d(patches: Tensor,
                  grid_size: Sequence[int],
                  patch_size: Union[int, Sequence[int]],
                  tubelet_size: int,
                  channel_major: bool = False) -> Tensor:
    """Inverse of :func:`patchify_3d`.

    Args:
        patches (Tensor): ``[B, T' * H' * W', tubelet * ph * pw * C]``.
        grid_size (Sequence[int]): ``(T', H', W')``.
        patch_size (int | Sequence[int]): ``p`` or ``(ph, pw)``.
        tubelet_size (int): Frames per patch.
        channel_major (bool): The patches are flattened in
            ``(C, tubelet, ph, pw)`` order. Defaults to False.

    Returns:
        Tensor: ``[B, C, T' * tubelet, H' * ph, W' * pw]``.
    """
    ph, pw = _pair(patch_size)
    t, h, w = grid_size
    B = patches.shape[0]
    if channel_major:
        x = patches.reshape(B, t, h, w, -1, tubelet_size, ph, pw)
        x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # [B, C, t, tub, h, ph, w, pw]
    else:
        x = patches.reshape(B, t, h, w, tubelet_size, ph, pw, -1)
        x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # [B, C, t, tub, h, ph, w, pw]
    return x.reshape(B, -1, t * tubelet_size, h * ph, w * pw)


class PatchEmbed3D(nn.Module):
    """Tubelet embedding by a strided ``Conv3d``, with optional norms.

    Args:
        in_channels (int): Input channels ``C_in``.
        embed_dims (int): Output width ``C``.
        patch_size (int | Sequence[int]): Spatial patch size. Defaults to 14.
        tubelet_size (int): Frames per patch. Defaults to 1.
        pixel_norm_cfg (str | dict | None): Norm over each patch's raw pixels
            (``tubelet * ph * pw * C_in`` values, ordered as in
            :func:`patchify_3d`) before the projection. None disables it.
        norm_cfg (str | dict | None): Norm over the embeddings after the
            projection. None disables it.

    Parameters: ``pixel_norm`` (when set), ``proj`` (``Conv3d`` with kernel and
    stride ``(tubelet, ph, pw)``), ``norm`` (when set).
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: Union[int, Sequence[int]] = 14,
                 tubelet_size: int = 1,
                 pixel_norm_cfg: NormCfg = None,
                 norm_cfg: NormCfg = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.patch_size = _pair(patch_size)
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, ) + self.patch_size
        self.pixel_norm: Optional[nn.Module] = None
        if pixel_norm_cfg is not None:
            self.pixel_norm = build_norm(
                pixel_norm_cfg,
                tubelet_size * self.patch_size[0] * self.patch_size[1] *
                in_channels)
        self.proj = nn.Conv3d(in_channels, embed_dims, kernel, stride=kernel)
        self.norm = build_norm(norm_cfg, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Embed a video.

        Args:
            x (Tensor): ``[B, C_in, T, H, W]`` with ``T, H, W`` divisible by
                ``(tubelet, ph, pw)``.

        Returns:
            Tensor: ``[B, T' * H' * W', C]`` in ``(t, h, w)`` order.
        """
        if self.pixel_norm is None:
            x = self.proj(x)  # [B, C, T', H', W']
            x = x.flatten(2).transpose(1, 2)  # [B, N, C]
        else:
            # The conv is applied as a linear layer on normalised patches; its
            # weight [C, C_in, tubelet, ph, pw] is reordered to the pixel order.
            x = self.pixel_norm(
                patchify_3d(x, self.patch_size, self.tubelet_size))  # [B, N, P]
            weight = self.proj.weight.permute(0, 2, 3, 4, 1).flatten(1)  # [C, P]
            x = F.linear(x, weight, self.proj.bias)  # [B, N, C]
        return self.norm(x)
