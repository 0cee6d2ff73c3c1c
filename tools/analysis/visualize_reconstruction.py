"""Draw a Stage-1 model's masked-patch reconstructions of one video as a PNG.

Rows: the input frames, the frames with the masked patches greyed out (what
the encoder sees), and the reconstruction (visible patches copied, masked
patches sampled by the pixel head, e.g. the diffusion decoder). One column per
frame.

The checkpoint is read weights-only (nothing in it is run); a file that
cannot be read safely ends the tool with ``error: <file>: <reason>``.

Example::

    python tools/analysis/visualize_reconstruction.py CONFIG CHECKPOINT \\
        data/demo_videos/val/video_00000.mp4 --out reconstruction.png
"""
import argparse
import os
import os.path as osp

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from mmivnext.registry import MODELS
from mmivnext.utils.checkpoint_io import CheckpointLoadError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='Stage-1 config')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('video', help='video file to reconstruct')
    parser.add_argument('--out', default='reconstruction.png',
                        help='PNG file to write')
    parser.add_argument('--num-steps', type=int, default=None,
                        help='reverse diffusion steps (default: the head\'s)')
    parser.add_argument('--temperature', type=float, default=None,
                        help='sampling temperature (default: the head\'s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the mask and the sampler')
    parser.add_argument('--cell-size', type=int, default=112,
                        help='pixels per frame in the grid')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


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


def to_uint8(x: torch.Tensor, preprocessor) -> np.ndarray:
    """``[C, T, H, W]`` normalised -> ``[T, H, W, C]`` uint8 RGB."""
    x = x * preprocessor.std.cpu() + preprocessor.mean.cpu()
    return x.clamp(0, 255).round().byte().permute(1, 2, 3, 0).numpy()


def make_grid(rows, cell_size: int) -> np.ndarray:
    """Rows of ``[T, H, W, 3]`` frames -> one ``[rows*S, T*S, 3]`` image."""
    lines = []
    for frames in rows:
        cells = [
            cv2.resize(f, (cell_size, cell_size),
                       interpolation=cv2.INTER_NEAREST) for f in frames
        ]
        lines.append(np.concatenate(cells, axis=1))
    return np.concatenate(lines, axis=0)


def main(argv=None):
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
        model.eval()
        backbone = model.backbone
        num_frames = backbone.grid_size[0] * backbone.tubelet_size
        img_size = backbone.grid_size[1] * backbone.patch_size
        sample = load_clip(args.video, num_frames, img_size)

    data = model.data_preprocessor(
        dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]),
        training=False)
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=data['inputs'].device)
    generator.manual_seed(args.seed)
    out = model.reconstruct(
        data['inputs'], num_steps=args.num_steps,
        temperature=args.temperature, generator=generator)

    preprocessor = model.data_preprocessor
    frames = to_uint8(data['inputs'][0].cpu(), preprocessor)
    recon = to_uint8(out['reconstruction'][0].cpu(), preprocessor)
    patch, tubelet = backbone.patch_size, backbone.tubelet_size
    mask = out['mask'][0].cpu()  # [T', H', W']
    mask = mask.repeat_interleave(tubelet, 0).repeat_interleave(
        patch, 1).repeat_interleave(patch, 2).numpy()  # [T, H, W]
    masked = frames.copy()
    masked[mask] = 127
    grid = make_grid([frames, masked, recon], args.cell_size)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {args.out}')
    kept = 1 - mask.mean()
    print(f'wrote {args.out}: rows = input / visible to the encoder '
          f'({kept:.0%} of patches) / reconstruction, {num_frames} frames')


if __name__ == '__main__':
    main()
