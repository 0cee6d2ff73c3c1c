"""Multi-block masking (V-JEPA), for Stage 2's latent prediction."""
import math
import numbers
from typing import (Any, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

import torch
from torch import Tensor

from mmivnext.registry import MODELS
from .base_masker import BaseMasker
from .mask_indices import MaskIndices, indices_from_visible


class BlockMaskConfig(NamedTuple):
    """One validated mask config of :class:`MultiBlockMasker` (see there)."""
    num_blocks: int
    spatial_scale: Tuple[float, float]
    aspect_ratio: Tuple[float, float]
    temporal_scale: Tuple[float, float]
    max_visible: Optional[int] = None


#: The Stage 2 masks, V-JEPA's: 8 small and 2 large blocks, all tubes.
STAGE2_MASK_CFGS = (
    dict(num_blocks=8, spatial_scale=(0.15, 0.15), aspect_ratio=(0.75, 1.5),
         temporal_scale=(1.0, 1.0)),
    dict(num_blocks=2, spatial_scale=(0.7, 0.7), aspect_ratio=(0.75, 1.5),
         temporal_scale=(1.0, 1.0)),
)

#: Values of ``MultiBlockMasker(context_keep=...)``.
CONTEXT_KEEP_MODES = ('random', 'first')

_REQUIRED_KEYS = ('num_blocks', 'spatial_scale', 'aspect_ratio',
                  'temporal_scale')
_KEYS = _REQUIRED_KEYS + ('max_visible', )


def authors_max_visible(num_frames: int) -> int:
    """The authors' Stage 2 context cap, ``int(400 * (num_frames / 8))``
    (``engines/jepa_mask.py:199``): 1600 at 32 frames, 400 at 8.

    Their Stage 2 uses a tubelet of 1 frame on a 16 x 16 grid, so
    ``num_frames`` is both the clip's frames and the token grid's ``T``; use
    the result as ``max_visible`` of every mask config.

    Args:
        num_frames (int): Frames of the clip, ``>= 1``.

    Returns:
        int: Cap on the visible (context) tokens.
    """
    if not _is_int(num_frames) or num_frames < 1:
        raise ValueError(
            f'num_frames must be an int >= 1, got {num_frames!r}')
    return int(400 * (num_frames / 8))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_range(where: str, value: Any,
                 at_most_one: bool) -> Tuple[float, float]:
    """``(min, max)`` as floats, with ``0 < min <= max`` (``<= 1`` if
    ``at_most_one``); ``where`` names the key in errors."""
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)
            or len(value) != 2 or not all(_is_real(v) for v in value)):
        raise TypeError(
            f'{where} must be a pair (min, max) of numbers, got {value!r}')
    low, high = float(value[0]), float(value[1])
    upper = 1.0 if at_most_one else math.inf
    if not (0 < low <= high <= upper and math.isfinite(high)):
        bound = ' <= 1' if at_most_one else ''
        raise ValueError(
            f'{where} must satisfy 0 < min <= max{bound}, got {value!r}')
    return low, high


def _check_cfg(cfg: Any, index: int) -> BlockMaskConfig:
    """Validate ``mask_cfgs[index]`` (not modified) into a config."""
    where = f'mask_cfgs[{index}]'
    if not isinstance(cfg, Mapping):
        raise TypeError(f'{where} must be a dict, got {cfg!r}')
    unknown = sorted(str(key) for key in cfg if key not in _KEYS)
    if unknown:
        raise ValueError(f'{where} has unknown keys {unknown}; the keys are '
                         f'{list(_KEYS)}')
    missing = [key for key in _REQUIRED_KEYS if key not in cfg]
    if missing:
        raise ValueError(f'{where} misses the keys {missing}')
    num_blocks = cfg['num_blocks']
    if not _is_int(num_blocks) or num_blocks < 1:
        raise ValueError(f"{where}['num_blocks'] must be an int >= 1, got "
                         f'{num_blocks!r}')
    max_visible = cfg.get('max_visible')
    if max_visible is not None and (not _is_int(max_visible)
                                    or max_visible < 1):
        raise ValueError(f"{where}['max_visible'] must be None or an int "
                         f'>= 1, got {max_visible!r}')
    return BlockMaskConfig(
        num_blocks=int(num_blocks),
        spatial_scale=_check_range(f"{where}['spatial_scale']",
                                   cfg['spatial_scale'], at_most_one=True),
        aspect_ratio=_check_range(f"{where}['aspect_ratio']",
                                  cfg['aspect_ratio'], at_most_one=False),
        temporal_scale=_check_range(f"{where}['temporal_scale']",
                                    cfg['temporal_scale'], at_most_one=True),
        max_visible=None if max_visible is None else int(max_visible))


def _floor(value: float) -> int:
    """``floor`` that forgives float error: ``_floor(100 * 0.29) == 29``."""
    return math.floor(value + 1e-9)


@MODELS.register_module()
class MultiBlockMasker(BaseMasker):
    """Mask the union of a few large spatio-temporal boxes (V-JEPA).

    Each mask config gives one mask of the batch, drawn as follows on the
    token grid ``(T, H, W)``:

    1. **Block size, once per batch.** Draw a temporal scale ``s_t``, a
       spatial scale ``s`` and an aspect ratio ``r`` uniformly in their
       ranges; the block spans ``t = max(1, floor(T * s_t))`` frames and
       ``h x w`` tokens, ``h = round(sqrt(a * r))``, ``w = round(sqrt(a /
       r))`` with ``a = floor(H * W * s)``, each clipped to ``[1, H]`` / ``[1,
       W]`` (``r`` is height / width). The floors forgive float error
       (:func:`_floor`).
    2. **Positions, per sample.** Each of the ``num_blocks`` blocks of a
       sample gets a uniform start in ``[0, T - t]``, ``[0, H - h]``, ``[0, W
       - w]``; blocks may overlap. The masked tokens are their union, the
       visible tokens the rest. A sample left with no visible token is
       redrawn (its positions only), at most :attr:`max_redraws` times, after
       which a ``RuntimeError`` is raised.
    3. **Equal counts.** Let ``K`` be the smallest visible count in the batch,
       capped at ``max_visible`` if the config sets it. Every sample keeps
       ``K`` of its visible tokens: a uniformly random ``K``
       (``context_keep='random'``) or the first ``K`` in token order
       (``'first'``), so that a cap leaves the context in the early frames.
       The dropped ones become masked (predicted), so the indices stack.
       With ``temporal_scale`` ``(1, 1)`` the blocks are tubes (the same
       spatial mask in every frame), except for these dropped tokens: the
       sample of smallest visible count is an exact tube mask (unless
       ``max_visible`` cuts it).

    Differences from the authors' Stage 2 collator (``engines/jepa_mask.py``,
    from V-JEPA's ``src/masks/multiblock3d.py``): ``context_keep='first'``
    is their order, the first ``K`` context indices (``jepa_mask.py:185``),
    and :func:`authors_max_visible` their cap (``jepa_mask.py:199``); like
    them, every token not kept as context is masked (V-JEPA also cuts the
    predictor targets to the smallest target count). There, the block sizes
    come from a generator seeded with the iteration count and the positions
    from the global RNG; the redraw loop is unbounded; a block of ``int(H * W
    * s) = 0`` tokens is empty (here ``1 x 1``). Their ``max_temporal_keep``
    (context only in the first frames; 1.0, off, in their Stage 2) is not
    implemented.

    Args:
        mask_cfgs (Sequence[dict]): One dict per mask, with the keys

            * ``num_blocks`` (int): Blocks per sample, ``>= 1``.
            * ``spatial_scale`` (tuple[float, float]): Range of a block's
              area as a fraction of ``H * W``, ``0 < min <= max <= 1``.
            * ``aspect_ratio`` (tuple[float, float]): Range of a block's
              height / width, ``0 < min <= max``.
            * ``temporal_scale`` (tuple[float, float]): Range of a block's
              duration as a fraction of ``T``, ``0 < min <= max <= 1``.
            * ``max_visible`` (int, optional): Cap on the visible tokens
              (V-JEPA's ``max_keep``). Defaults to no cap.

            The dicts are not modified. Defaults to :data:`STAGE2_MASK_CFGS`.
        context_keep (str): ``'random'`` or ``'first'`` (the authors'), see
            step 3. Defaults to ``'random'``.
    """

    #: Redraws of a sample's blocks that left no visible token before giving
    #: up.
    max_redraws = 100

    def __init__(self,
                 mask_cfgs: Sequence[dict] = STAGE2_MASK_CFGS,
                 context_keep: str = 'random') -> None:
        super().__init__()
        if context_keep not in CONTEXT_KEEP_MODES:
            raise ValueError(f'context_keep must be one of '
                             f'{CONTEXT_KEEP_MODES}, got {context_keep!r}')
        self.context_keep = context_keep
        if isinstance(mask_cfgs, Mapping) or not isinstance(
                mask_cfgs, Sequence) or len(mask_cfgs) == 0:
            raise ValueError('mask_cfgs must be a non-empty list of dicts, '
                             f'got {mask_cfgs!r}')
        self.mask_cfgs = tuple(
            _check_cfg(cfg, index) for index, cfg in enumerate(mask_cfgs))

    def extra_repr(self) -> str:
        return f'context_keep={self.context_keep!r}, mask_cfgs=[\n  ' + \
            ',\n  '.join(str(cfg) for cfg in self.mask_cfgs) + ']'

    def draw(self, batch_size: int, grid_size: Tuple[int, int, int],
             device: torch.device, attention: Optional[Tensor],
             generator: Optional[torch.Generator]) -> List[MaskIndices]:
        """One mask per mask config, in order (``K`` differs between configs
        and batches). Without a generator, torch's default CPU generator is
        used."""
        # Block sizes and counts are host values: draw on the host (like a
        # data loader's mask collator) and copy the indices to the device,
        # so that drawing never waits for an accelerator's queue.
        draw_device = generator.device if generator is not None else \
            torch.device('cpu')
        masks = []
        for index, cfg in enumerate(self.mask_cfgs):
            mask = indices_from_visible(
                self._draw_config(index, cfg, batch_size, grid_size,
                                  draw_device, generator))
            masks.append(MaskIndices(
                *(t.to(device, non_blocking=True) for t in mask)))
        return masks

    def _draw_config(self, index: int, cfg: BlockMaskConfig,
                     batch_size: int, grid: Tuple[int, int, int],
                     device: torch.device,
                     generator: Optional[torch.Generator]) -> Tensor:
        """``[B, N]`` bool visibility of mask config ``index`` (steps 1-3 of
        the class docstring), on ``device``."""
        block = self._block_size(cfg, grid, device, generator)  # (t, h, w)
        masked = self._place_blocks(cfg.num_blocks, block, batch_size, grid,
                                    device, generator)  # [B, N]
        redo = masked.all(1)  # [B]
        for _ in range(self.max_redraws):
            if not redo.any():
                break
            masked[redo] = self._place_blocks(cfg.num_blocks, block,
                                              int(redo.sum()), grid, device,
                                              generator)
            redo = masked.all(1)
        else:
            if redo.any():
                raise RuntimeError(
                    f'mask_cfgs[{index}]: {cfg.num_blocks} blocks of (t, h, '
                    f'w) = {block} masked the whole (T, H, W) = {grid} grid '
                    f'in {self.max_redraws + 1} draws; lower num_blocks, '
                    f'spatial_scale or temporal_scale')
        visible = ~masked
        num_visible = int(visible.sum(1).min())
        if cfg.max_visible is not None:
            num_visible = min(num_visible, cfg.max_visible)
        if self.context_keep == 'first':
            # Rank of each visible token among its row's, in (t, h, w) order.
            rank = visible.cumsum(1)  # [B, N]
            return visible & (rank <= num_visible)
        # The K largest of i.i.d. uniform noises over the visible tokens (the
        # masked ones ranked below all of them) are a uniform K-subset.
        noise = torch.rand(visible.shape, generator=generator, device=device)
        noise.masked_fill_(masked, -1.0)
        keep = noise.topk(num_visible, dim=1).indices  # [B, K]
        return torch.zeros_like(visible).scatter_(1, keep, True)

    @staticmethod
    def _block_size(cfg: BlockMaskConfig, grid: Tuple[int, int, int],
                    device: torch.device,
                    generator: Optional[torch.Generator]
                    ) -> Tuple[int, int, int]:
        """Draw the ``(t, h, w)`` of a batch's blocks (step 1)."""
        frames, height, width = grid
        u_time, u_area, u_ratio = torch.rand(
            3, generator=generator, device=device).tolist()

        def lerp(bounds: Tuple[float, float], u: float) -> float:
            return bounds[0] + u * (bounds[1] - bounds[0])

        duration = max(1, _floor(frames * lerp(cfg.temporal_scale, u_time)))
        area = _floor(height * width * lerp(cfg.spatial_scale, u_area))
        ratio = lerp(cfg.aspect_ratio, u_ratio)
        block_h = min(height, max(1, round(math.sqrt(area * ratio))))
        block_w = min(width, max(1, round(math.sqrt(area / ratio))))
        return duration, block_h, block_w

    @staticmethod
    def _place_blocks(num_blocks: int, block: Tuple[int, int, int],
                      batch_size: int, grid: Tuple[int, int, int],
                      device: torch.device,
                      generator: Optional[torch.Generator]) -> Tensor:
        """``[B, N]`` bool union of ``num_blocks`` boxes of size ``block`` at
        uniform positions, per sample (step 2, one draw)."""
        # Per axis: [B, num_blocks, 1] starts, then [B, num_blocks, size] of
        # "inside the box along this axis".
        inside = []
        for size, extent in zip(grid, block):
            start = torch.randint(
                0, size - extent + 1, (batch_size, num_blocks, 1),
                generator=generator, device=device)
            coord = torch.arange(size, device=device)
            inside.append((coord >= start) & (coord < start + extent))
        in_t, in_h, in_w = inside
        boxes = (in_t[..., :, None, None] & in_h[..., None, :, None]
                 & in_w[..., None, None, :])  # [B, num_blocks, T, H, W]
        return boxes.any(1).flatten(1)
