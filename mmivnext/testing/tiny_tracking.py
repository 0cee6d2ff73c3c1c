"""Tiny parts of the tracking-probe tests: a synthetic set with its windows,
a probe config with a random frozen encoder, and hand-made data samples."""
import os.path as osp

import torch
from mmengine.structures import BaseDataElement

from ..datasets.tracking_windows import (WindowRules, build_windows,
                                         load_frame_annotations,
                                         write_windows)
from .synthetic_tracking import make_synthetic_tracking

#: The synthetic set of the tests: 20 frames of 56 px at 5 fps, i.e. windows
#: starting at frames 0 and 3 of each sequence (if the rules allow).
SET_ARGS = dict(num_train=4, num_val=2, num_frames=20, size=56, fps=5.0,
                max_objects=3, seed=0)
SET_RULES = WindowRules(target_fps=5.0, resize_short=56, crop_size=56)
#: A tiny encoder: width 64, 2 layers (16 frames of 28 px: 64 tokens).
TINY_ARCH = dict(embed_dims=64, num_layers=2, num_heads=2,
                 feedforward_channels=128)


def make_tracking_set(root: str) -> dict:
    """Write the synthetic set (:data:`SET_ARGS`) and its windows
    (:data:`SET_RULES`) under ``root``.

    Returns:
        dict: ``make_synthetic_tracking``'s paths plus ``train_windows`` and
        ``val_windows``.
    """
    paths = make_synthetic_tracking(root, **SET_ARGS)
    for split in ('train', 'val'):
        annotations = paths[f'{split}_annotations']
        windows, _ = build_windows(load_frame_annotations(annotations),
                                   SET_RULES)
        paths[f'{split}_windows'] = osp.join(root, f'windows_{split}.json')
        write_windows(paths[f'{split}_windows'], windows, SET_RULES,
                      source=annotations)
    return paths


def tiny_probe_cfg(num_frames: int = 16, img_size: int = 28,
                   **head) -> dict:
    """A BoxTrackingProbe with a random frozen tiny encoder
    (:data:`TINY_ARCH`); ``head`` adds arguments of its head."""
    return dict(
        type='mmivnext.BoxTrackingProbe',
        backbone=dict(type='mmivnext.VisionTransformer3D', arch=TINY_ARCH,
                      img_size=img_size, num_frames=num_frames,
                      out_type='featmap', frozen_stages=2),
        head=dict(type='mmivnext.BoxTrackingHead', in_channels=64,
                  num_frames=num_frames, embed_dims=32, num_heads=2, **head))


def data_sample(boxes, visible, **metainfo) -> BaseDataElement:
    """A packed data sample with normalised ``gt_boxes`` / ``gt_visible``."""
    sample = BaseDataElement(metainfo=metainfo)
    sample.gt_boxes = torch.as_tensor(boxes, dtype=torch.float32)
    sample.gt_visible = torch.as_tensor(visible, dtype=torch.bool)
    return sample


def random_samples(counts, num_frames=16, seed=0):
    """Data samples with ``counts[b]`` random objects, visible everywhere
    except frame 3 of the last object."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for b, n in enumerate(counts):
        xy = torch.rand(n, num_frames, 2, generator=gen) * 0.5
        wh = torch.rand(n, num_frames, 2, generator=gen) * 0.4 + 0.1
        visible = torch.ones(n, num_frames, dtype=torch.bool)
        visible[-1, 3] = False
        samples.append(data_sample(torch.cat([xy, xy + wh], -1), visible,
                                   window_index=b, sequence=f'seq{b}'))
    return samples
