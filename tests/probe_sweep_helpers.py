"""The demo probe config shrunk for the probe-sweep tests: a tiny random
encoder (width 32, 2 layers, 4 frames of 28 px) on 24 train and 12 val demo
clips, trained on the CPU."""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmivnext.testing import make_demo_videos

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs/probes/demo/'
    'attentive-probe_ivnext-vit-tiny-p14_1xb32-16x1x1-40e_demo-videos.py')


def write_videos(root: str) -> dict:
    """24 train and 12 val demo videos of 16 frames at 64 px under ``root``
    (``make_demo_videos``'s dict)."""
    return make_demo_videos(root, num_train=24, num_val=12, num_frames=16,
                            size=64)


def cfg_options(videos: dict, max_epochs: int = 2) -> list:
    """``--cfg-options`` strings: the demo probe config on ``videos``, tiny
    and with a random encoder; clips of 4 frames, resized to 32 px, cropped
    to 28 (randomly in train).

    Batches of 5 leave a last batch of 4 of the 24 train clips (drop_last is
    False); the cosine schedule ends with the training.
    """
    opts = []
    for split, ann_file in (('train', videos['train_list']),
                            ('val', videos['val_list'])):
        opts += [
            f'{split}_dataloader.dataset.ann_file={ann_file}',
            f'{split}_dataloader.dataset.data_prefix.video={videos["root"]}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            # DecordInit, UniformSample, DecordDecode, Resize, crop, ...
            f'{split}_dataloader.dataset.pipeline.1.clip_len=4',
            f'{split}_dataloader.dataset.pipeline.3.scale=(-1,32)',
        ]
    return opts + [
        'train_dataloader.dataset.pipeline.4.size=28',
        'val_dataloader.dataset.pipeline.4.crop_size=28',
        'train_dataloader.batch_size=5',
        'val_dataloader.batch_size=6',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.num_layers=2',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.num_frames=4',
        'model.backbone.img_size=28',
        'model.backbone.frozen_stages=2',
        'model.backbone.projector_cfg.num_heads=2',
        'model.backbone.init_cfg=None',
        'model.cls_head.in_channels=32',
        'model.cls_head.num_heads=2',
        f'train_cfg.max_epochs={max_epochs}',
        f'param_scheduler.1.T_max={max_epochs - 1}',
        f'param_scheduler.1.end={max_epochs}',
    ]


def as_dict(options: list) -> dict:
    """``--cfg-options`` strings merged into a dict as MMEngine's
    ``DictAction`` (the tool's parser) does."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options
