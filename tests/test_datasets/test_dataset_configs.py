"""The base dataset configs load, follow the paper's recipe, and their dataloader
builds with ``Runner.build_dataloader`` over the demo set and yields a batch."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmivnext.models.data_preprocessors import VideoPretrainDataPreprocessor

DATASET_CONFIGS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    '_base_', 'datasets')

# config name: (num_frames, img_size, flips)
EXPECTED = {
    'k400_unlabeled.py': (16, 224, True),  # Table 13, "Others"
    'ssv2_unlabeled.py': (16, 224, False),  # Table 13, "SthSth V2"
    'demo_videos.py': (8, 56, False),  # CPU demo, direction classes
}


def _load(name):
    return Config.fromfile(osp.join(DATASET_CONFIGS, name))


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_config_follows_the_recipe(name):
    cfg = _load(name)
    num_frames, img_size, flips = EXPECTED[name]
    for key in ('dataset_type', 'data_root', 'ann_file_train', 'ann_file_val',
                'data_root_val', 'num_frames', 'img_size', 'train_pipeline',
                'train_dataloader'):
        assert key in cfg, key
    assert (cfg.num_frames, cfg.img_size) == (num_frames, img_size)
    # mmaction2's transforms, named with their scope.
    assert all(step.type.startswith('mmaction.') for step in cfg.train_pipeline)
    steps = {step.type[len('mmaction.'):]: step for step in cfg.train_pipeline}
    assert list(steps) == [
        'DecordInit', 'UniformSample', 'DecordDecode', 'MultiScaleCrop',
        'Resize'
    ] + (['Flip'] if flips else []) + ['FormatShape', 'PackActionInputs']
    assert steps['UniformSample'].clip_len == num_frames
    assert steps['UniformSample'].num_clips == 1
    assert tuple(steps['MultiScaleCrop'].scales) == (1, 0.875, 0.75, 0.66)
    assert tuple(steps['Resize'].scale) == (img_size, img_size)
    assert steps['Resize'].keep_ratio is False
    assert steps['FormatShape'].input_format == 'NCTHW'
    if flips:
        assert steps['Flip'].flip_ratio == 0.5
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == cfg.dataset_type == 'UnlabeledVideoDataset'
    assert dataset.ann_file == cfg.ann_file_train
    assert dataset.data_prefix == dict(video=cfg.data_root)
    assert dataset.pipeline == cfg.train_pipeline
    # Per-sample augmentation seeds, for exact resume.
    assert cfg.train_dataloader.sampler == dict(
        type='mmivnext.SeededSampler', shuffle=True)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_dataloader_yields_a_batch_of_the_demo_set(name, demo_videos,
                                                   mmivnext_scope):
    cfg = _load(name)
    num_frames, img_size, _ = EXPECTED[name]
    # As `--cfg-options` would; fewer workers than a GPU node's 8.
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': min(cfg.train_dataloader.num_workers,
                                            2),
        'train_dataloader.dataset.ann_file': demo_videos['train_list'],
        'train_dataloader.dataset.data_prefix.video': demo_videos['root'],
    })
    loader = Runner.build_dataloader(cfg.train_dataloader.to_dict(), seed=0)
    assert type(loader.dataset).__name__ == 'UnlabeledVideoDataset'
    batch = next(iter(loader))
    assert len(batch['inputs']) == len(batch['data_samples']) == 2
    for clip in batch['inputs']:
        assert clip.shape == (1, 3, num_frames, img_size, img_size)
        assert clip.dtype == torch.uint8
    out = VideoPretrainDataPreprocessor()(batch, training=True)
    assert out['inputs'].shape == (2, 3, num_frames, img_size, img_size)
    assert out['inputs'].dtype == torch.float32


def test_child_config_overrides_as_documented(tmp_path):
    """The recipe in the configs' header: change the variables, rebuild the
    pipeline, merge the changed dataset keys."""
    child = tmp_path / 'child.py'
    base = osp.join(DATASET_CONFIGS, 'k400_unlabeled.py')
    child.write_text(f'''_base_ = [{base!r}]
data_root = 'data/k710/videos'
ann_file_train = 'data/k710/train.txt'
num_frames = 8
train_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
train_dataloader = dict(dataset=dict(
    ann_file=ann_file_train, data_prefix=dict(video=data_root),
    pipeline=train_pipeline))
''')
    cfg = Config.fromfile(str(child))
    dataset = cfg.train_dataloader.dataset
    assert dataset.ann_file == 'data/k710/train.txt'
    assert dataset.data_prefix == dict(video='data/k710/videos')
    assert dataset.pipeline[1].clip_len == 8
    assert dataset.on_corrupt == 'skip'  # kept from the base
    assert cfg.train_dataloader.batch_size == 32
