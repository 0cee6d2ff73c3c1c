"""Draw and score a Stage-1 model's masked-patch reconstructions of videos.

Every listed video gives one centre clip, which is masked and reconstructed
by the model (:meth:`InternVideoNextStage1.reconstruct`, ``--batch-size``
clips at a time) and scored. The first ``--draw`` clips are drawn into one
PNG, one column per frame and, for each drawn clip, three rows:

1. the input frames;
2. the frames with the masked patches greyed out (what the encoder sees);
3. the reconstruction (visible patches copied, masked patches sampled by the
   pixel head, e.g. the diffusion decoder).

The clips are stacked vertically, with a thin white line
(:data:`SEPARATOR_PX` pixels) between two clips.

The metric (:func:`masked_psnr`) is the PSNR over the pixels of the masked
patches only, ``10 * log10(255 ** 2 / MSE)``, on 0-255 RGB values: the
clips are mapped back with the data preprocessor's mean and std and clamped
to ``[0, 255]``, not rounded. The visible patches are copied from the input,
so including them would only inflate the number. For each clip it is
computed for

* the reconstruction, and
* the mean-colour baseline (:func:`mean_colour_baseline`): the masked patches
  filled with the clip's mean colour (per channel, over every pixel of the
  input clip). A model that learned nothing but the clip's average colour
  scores this; PSNR on natural video has no absolute scale, so the gain over
  it (``reconstruction - baseline``, in dB) is the part that says the head
  predicts structure. The baseline is a little generous: its mean includes
  the masked pixels the model never sees.

Reading the numbers: a sampled diffusion reconstruction is one plausible
draw, not the mean of the possible ones, so its MSE is above that of the
best deterministic guess and it can score close to, or below, the baseline
while looking right (``--temperature 0`` gives the deterministic mean path).
A model with ``norm_pixel_targets=True`` maps its masked patches back with
each patch's true mean and std (see ``reconstruct``), which the baseline
does not get: compare such models with each other, not with the baseline.
A clip whose masked pixels are matched exactly (MSE 0) scores ``inf``.

The terminal shows one line (what was written, the two mean PSNRs and the
gain); ``--metrics-out FILE.json`` writes the numbers, per clip and averaged
(keys: ``videos``, ``psnr_reconstruction``, ``psnr_mean_colour``,
``mean_psnr_reconstruction``, ``mean_psnr_mean_colour``, ``mean_gain_db``,
``masked_fraction``, ``num_steps``, ``temperature``, ``seed``,
``batch_size``, ``norm_pixel_targets``). JSON has no infinity: an infinite
value is written as the string ``"inf"`` (``float()`` reads it back), an
undefined one (a gain of ``inf - inf``) as ``"nan"``.

The masks are drawn from torch's global generator, seeded with ``--seed``,
batch after batch, and the sampler's noise from a generator seeded the same:
one run is repeatable, but another ``--batch-size`` may draw other masks.

The checkpoint is read weights-only (nothing in it is run); a file that
cannot be read safely ends the tool with ``error: <file>: <reason>``.

Example::

    python tools/analysis/visualize_reconstruction.py CONFIG CHECKPOINT \\
        data/demo_videos/val/video_0000*.mp4 --out reconstruction.png \\
        --draw 3 --metrics-out reconstruction.json
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from torch import Tensor

from mmivnext.registry import MODELS
from mmivnext.utils.checkpoint_io import CheckpointLoadError, atomic_write

#: Height, in pixels, of the white line between two drawn clips.
SEPARATOR_PX = 4
#: Value of the greyed-out (masked) pixels in the second row.
GREY = 127
#: Largest pixel value, the peak of the PSNR.
MAX_PIXEL = 255.


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='Stage-1 config')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('videos', nargs='+', metavar='VIDEO',
                        help='video files to reconstruct and score')
    parser.add_argument('--out', default='reconstruction.png',
                        help='PNG file to write')
    parser.add_argument('--draw', type=int, default=None,
                        help='number of clips to draw, the first ones '
                        '(default: 2, or 1 with a single video)')
    parser.add_argument('--metrics-out', default=None,
                        help='JSON file to write the PSNRs to')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='clips reconstructed at a time')
    parser.add_argument('--num-steps', type=int, default=None,
                        help='reverse diffusion steps (default: the head\'s)')
    parser.add_argument('--temperature', type=float, default=None,
                        help='sampling temperature (default: the head\'s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the masks and the sampler')
    parser.add_argument('--cell-size', type=int, default=112,
                        help='pixels per frame in the grid')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    args = parser.parse_args(argv)
    num_videos = len(args.videos)
    if args.draw is None:
        args.draw = min(2, num_videos)
    if not 1 <= args.draw <= num_videos:
        parser.error(f'--draw must be between 1 and the number of videos '
                     f'({num_videos}), got {args.draw}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be at least 1, got '
                     f'{args.batch_size}')
    if args.num_steps is not None and args.num_steps < 1:
        parser.error(f'--num-steps must be at least 1, got {args.num_steps}')
    if args.temperature is not None and not args.temperature >= 0:
        parser.error(f'--temperature must be >= 0, got {args.temperature}')
    if args.cell_size < 1:
        parser.error(f'--cell-size must be at least 1, got {args.cell_size}')
    return args


# -------------------------------------------------------------- metric ----
def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """PSNR of each clip over its masked pixels only, peak 255.

    ``PSNR = 10 * log10(255 ** 2 / MSE)``, the MSE taken over every channel
    of the pixels where ``mask`` is True; the other pixels are ignored.
    Computed in float64.

    Args:
        pred (Tensor): ``[B, C, T, H, W]`` predicted pixels, 0-255.
        target (Tensor): ``[B, C, T, H, W]`` true pixels, 0-255.
        mask (Tensor): ``[B, T, H, W]`` bool, True = scored (masked) pixel;
            the same for every channel.

    Returns:
        Tensor: ``[B]`` float64 PSNR in dB; ``inf`` for a clip whose MSE is
        0 (its masked pixels are matched exactly).

    Raises:
        ValueError: If the shapes do not fit, or a clip has no masked pixel
            (its PSNR would be undefined).
    """
    if pred.shape != target.shape or pred.dim() != 5:
        raise ValueError(f'pred and target must both be [B, C, T, H, W], '
                         f'got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    expected = (pred.shape[0], *pred.shape[2:])
    if tuple(mask.shape) != expected or mask.dtype != torch.bool:
        raise ValueError(f'mask must be a bool [B, T, H, W] tensor '
                         f'{expected}, got {mask.dtype} {tuple(mask.shape)}')
    counts = mask.flatten(1).sum(1)
    if (counts == 0).any():
        empty = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f'clips {empty} have no masked pixel to score')
    weight = mask.unsqueeze(1).double()  # [B, 1, T, H, W]
    squared = (pred.double() - target.double())**2 * weight
    mse = squared.flatten(1).sum(1) / (counts.double() * pred.shape[1])
    return torch.where(mse > 0, 10 * torch.log10(MAX_PIXEL**2 / mse),
                       torch.full_like(mse, math.inf))


def mean_colour_baseline(clip: Tensor) -> Tensor:
    """Each clip replaced by its mean colour, the baseline prediction.

    Scored with :func:`masked_psnr`, this is the clip whose masked patches
    are filled with its mean colour (the other pixels are not scored).

    Args:
        clip (Tensor): ``[B, C, T, H, W]`` pixels.

    Returns:
        Tensor: ``[B, C, T, H, W]``, every pixel of clip ``b`` and channel
        ``c`` equal to the mean of ``clip[b, c]`` over all its pixels.
    """
    if clip.dim() != 5:
        raise ValueError(f'clip must be [B, C, T, H, W], got '
                         f'{tuple(clip.shape)}')
    return clip.mean(dim=(2, 3, 4), keepdim=True).expand_as(clip)


def pixel_mask(mask: Tensor, tubelet: int, patch: int) -> Tensor:
    """Token mask ``[B, T', H', W']`` -> pixel mask ``[B, T, H, W]``, each
    token spread over its ``tubelet x patch x patch`` pixels."""
    return mask.repeat_interleave(tubelet, 1).repeat_interleave(
        patch, 2).repeat_interleave(patch, 3)


# ---------------------------------------------------------- clips, grid ----
def load_clip(video: str, num_frames: int, img_size: int) -> dict:
    """Decode one centre clip of ``video`` as a packed sample."""
    if not osp.isfile(video):
        raise FileNotFoundError(f'video not found: {video}')
    pipeline = Compose([
        dict(type='mmaction.DecordInit'),
        dict(type='mmaction.UniformSample', clip_len=num_frames,
             num_clips=1, test_mode=True),
        dict(type='mmaction.DecordDecode'),
        dict(type='mmaction.Resize', scale=(-1, img_size)),
        dict(type='mmaction.CenterCrop', crop_size=img_size),
        dict(type='mmaction.FormatShape', input_format='NCTHW'),
        dict(type='mmaction.PackActionInputs'),
    ])
    return pipeline(dict(filename=video, start_index=0, modality='RGB'))


def decode(video: str, num_frames: int, img_size: int) -> dict:
    """:func:`load_clip`, a file that does not decode ending the tool with
    ``error: <file>: <reason>``."""
    try:
        return load_clip(video, num_frames, img_size)
    except Exception as err:  # decord raises its own DECORDError
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise SystemExit(f'error: {video}: could not decode a clip of '
                         f'{num_frames} frames: {reason}') from err


def to_pixels(x: Tensor, preprocessor) -> Tensor:
    """Normalised ``[B, C, T, H, W]`` -> float 0-255 (clamped, not
    rounded), with the preprocessor's ``[C, 1, 1, 1]`` mean and std."""
    std = preprocessor.std.to(x.device, x.dtype)
    mean = preprocessor.mean.to(x.device, x.dtype)
    return (x * std + mean).clamp(0, MAX_PIXEL)


def to_uint8(x: Tensor) -> np.ndarray:
    """``[C, T, H, W]`` 0-255 pixels -> ``[T, H, W, C]`` uint8."""
    return x.round().byte().permute(1, 2, 3, 0).cpu().numpy()


def make_grid(rows: Sequence[np.ndarray], cell_size: int) -> np.ndarray:
    """Rows of ``[T, H, W, 3]`` frames -> one ``[rows*S, T*S, 3]`` image."""
    lines = []
    for frames in rows:
        cells = [
            cv2.resize(f, (cell_size, cell_size),
                       interpolation=cv2.INTER_NEAREST) for f in frames
        ]
        lines.append(np.concatenate(cells, axis=1))
    return np.concatenate(lines, axis=0)


def stack_clips(grids: Sequence[np.ndarray]) -> np.ndarray:
    """Clip grids ``[3*S, T*S, 3]`` -> one image, a white line of
    :data:`SEPARATOR_PX` pixels between two clips."""
    parts = []
    for i, grid in enumerate(grids):
        if i:
            parts.append(np.full((SEPARATOR_PX, *grid.shape[1:]), 255,
                                 dtype=grid.dtype))
        parts.append(grid)
    return np.concatenate(parts, axis=0)


def _json_number(x: float):
    """A float for JSON: finite as is, otherwise its name (``"inf"``)."""
    return x if math.isfinite(x) else str(x)


def write_metrics(path: str, metrics: dict) -> None:
    """Write ``metrics`` to ``path`` as JSON, atomically."""
    with atomic_write(path, 'w') as f:
        json.dump(metrics, f, indent=2, allow_nan=False)
        f.write('\n')


# ------------------------------------------------------------------ main ----
def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns the metrics (as written to ``--metrics-out``,
    but with float infinities)."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmivnext')):
        model = MODELS.build(cfg.model)
        try:  # weights-only through mmivnext's loader (compat fix 7)
            load_checkpoint(model, args.checkpoint, map_location='cpu',
                            strict=True)
        except (CheckpointLoadError, FileNotFoundError) as err:
            raise SystemExit(f'error: {err}') from err
        except RuntimeError as err:  # strict: keys or shapes do not fit
            raise SystemExit(f'error: {args.checkpoint} does not fit the '
                             f'model of {args.config}: {err}') from err
        missing = [v for v in args.videos if not osp.isfile(v)]
        if missing:
            raise SystemExit(f'error: video not found: {", ".join(missing)}')
        model.eval()
        backbone = model.backbone
        patch, tubelet = backbone.patch_size, backbone.tubelet_size
        num_frames = backbone.grid_size[0] * tubelet
        img_size = backbone.grid_size[1] * patch
        preprocessor = model.data_preprocessor

        generator = torch.Generator(device=preprocessor.mean.device)
        generator.manual_seed(args.seed)
        psnr_recon, psnr_base, masked_fraction, grids = [], [], [], []
        for start in range(0, len(args.videos), args.batch_size):
            batch = args.videos[start:start + args.batch_size]
            samples = [decode(v, num_frames, img_size) for v in batch]
            data = preprocessor(
                dict(inputs=[s['inputs'] for s in samples],
                     data_samples=[s['data_samples'] for s in samples]),
                training=False)
            with torch.no_grad():
                out = model.reconstruct(
                    data['inputs'], num_steps=args.num_steps,
                    temperature=args.temperature, generator=generator)
            target = to_pixels(data['inputs'], preprocessor)
            recon = to_pixels(out['reconstruction'], preprocessor)
            mask = pixel_mask(out['mask'], tubelet, patch)  # [B, T, H, W]
            psnr_recon += masked_psnr(recon, target, mask).tolist()
            psnr_base += masked_psnr(
                mean_colour_baseline(target), target, mask).tolist()
            masked_fraction += out['mask'].flatten(1).float().mean(
                1).tolist()
            for i in range(min(len(batch), args.draw - len(grids))):
                frames = to_uint8(target[i])
                masked = frames.copy()
                masked[mask[i].cpu().numpy()] = GREY
                grids.append(make_grid(
                    [frames, masked, to_uint8(recon[i])], args.cell_size))

    image = stack_clips(grids)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f'error: {args.out}: could not write the PNG')

    head = model.pixel_head
    mean_recon = sum(psnr_recon) / len(psnr_recon)
    mean_base = sum(psnr_base) / len(psnr_base)
    gain = mean_recon - mean_base
    metrics = dict(
        videos=list(args.videos),
        psnr_reconstruction=psnr_recon,
        psnr_mean_colour=psnr_base,
        mean_psnr_reconstruction=mean_recon,
        mean_psnr_mean_colour=mean_base,
        mean_gain_db=gain,
        masked_fraction=sum(masked_fraction) / len(masked_fraction),
        num_steps=args.num_steps if args.num_steps is not None else getattr(
            head, 'num_sampling_steps', None),
        temperature=args.temperature if args.temperature is not None
        else getattr(head, 'temperature', None),
        seed=args.seed,
        batch_size=args.batch_size,
        norm_pixel_targets=bool(getattr(model, 'norm_pixel_targets', False)))
    written = args.out
    if args.metrics_out:
        write_metrics(args.metrics_out, {
            key: ([_json_number(x) for x in value] if key.startswith('psnr')
                  else _json_number(value) if isinstance(value, float)
                  else value) for key, value in metrics.items()})
        written += f' and {args.metrics_out}'
    print(f'wrote {written} ({len(grids)} of {len(args.videos)} clips '
          f'drawn): masked-patch PSNR {mean_recon:.2f} dB reconstruction, '
          f'{mean_base:.2f} dB mean colour, gain {gain:+.2f} dB')
    return metrics


if __name__ == '__main__':
    main()
