"""The base dataset configs load, follow the paper's recipe, and their dataloader
builds with ``Runner.build_dataloader`` over the demo set and yields a batch.
The pretraining pipelines crop as the authors' ``GroupMultiScaleCrop``."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmaction.datasets.transforms import MultiScaleCrop, processing
from mmengine.config import Config
from mmengine.runner import Runner

from mmivnext.models.data_preprocessors import VideoPretrainDataPreprocessor

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(ROOT, 'configs', '_base_', 'datasets')
#: Pretraining configs (base datasets and configs/ivnext, which inherit or
#: define their pipelines).
PRETRAINING_CONFIGS = sorted(
    glob.glob(osp.join(DATASET_CONFIGS, '*_unlabeled.py')) +
    glob.glob(osp.join(DATASET_CONFIGS, 'demo_videos.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'ivnext', '**', '*.py'),
              recursive=True))

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
    # mmaction2's transforms and mmivnext's Resize, named with their scope.
    assert all(step.type.startswith(('mmaction.', 'mmivnext.'))
               for step in cfg.train_pipeline)
    steps = {step.type.split('.', 1)[1]: step for step in cfg.train_pipeline}
    assert list(steps) == [
        'VideoInit', 'UniformSample', 'VideoDecode', 'MultiScaleCrop',
        'Resize'
    ] + (['Flip'] if flips else []) + ['FormatShape', 'PackActionInputs']
    assert steps['VideoInit'].backend == cfg.video_backend == 'decord'
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


# ------------------------------------------------------------ multi-scale crop
@pytest.mark.parametrize('path', PRETRAINING_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in PRETRAINING_CONFIGS])
def test_pretraining_crop_has_13_fixed_offsets(path):
    """The authors crop with ``GroupMultiScaleCrop(fix_crop=True,
    more_fix_crop=True)`` (``datasets/transforms.py:116-186``): 13 fixed
    offsets, not mmaction2's default 5."""
    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    crops = [t for t in pipeline if t.type == 'mmaction.MultiScaleCrop']
    assert len(crops) == 1
    crop = crops[0]
    assert crop.num_fixed_crops == 13
    assert crop.random_crop is False and crop.max_wh_scale_gap == 1
    assert tuple(crop.scales) == (1, 0.875, 0.75, 0.66)


#: The pretraining configs but the demo ones, which keep mmaction.Resize.
FULL_PRETRAINING_CONFIGS = [
    p for p in PRETRAINING_CONFIGS
    if 'demo' not in osp.relpath(p, ROOT).split(osp.sep)
    and osp.basename(p) != 'demo_videos.py'
]


@pytest.mark.parametrize(
    'path', FULL_PRETRAINING_CONFIGS,
    ids=[osp.relpath(p, ROOT) for p in FULL_PRETRAINING_CONFIGS])
def test_pretraining_crop_is_resized_with_pil_bilinear(path):
    """The authors resize the crop with PIL's bilinear filter
    (``datasets/transforms.py:124,133``): the step after the crop is
    ``mmivnext.Resize`` with the 'pillow' backend."""
    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    types = [t.type for t in pipeline]
    resize = pipeline[types.index('mmaction.MultiScaleCrop') + 1]
    assert resize.type == 'mmivnext.Resize'
    assert resize.backend == 'pillow' and resize.keep_ratio is False
    assert resize.get('interpolation', 'bilinear') == 'bilinear'
    assert 'mmaction.Resize' not in types


def authors_crop_sizes(image_w, image_h, input_size, scales, max_distort):
    """``(w, h)`` crop sizes of the authors' ``_sample_crop_size``: fractions
    of the short side, each snapped to the input size within 3 px, then the
    pairs of scale levels at most ``max_distort`` apart (in their order)."""
    sizes = [int(min(image_w, image_h) * x) for x in scales]
    heights = [input_size if abs(x - input_size) < 3 else x for x in sizes]
    widths = [input_size if abs(x - input_size) < 3 else x for x in sizes]
    return [(w, h) for i, h in enumerate(heights)
            for j, w in enumerate(widths) if abs(i - j) <= max_distort]


def authors_fixed_offsets(image_w, image_h, crop_w, crop_h):
    """``(x, y)`` offsets of the authors' ``fill_fix_offset`` with
    ``more_fix_crop=True``, in their order."""
    w_step, h_step = (image_w - crop_w) // 4, (image_h - crop_h) // 4
    grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2),  # corners, centre
            (0, 2), (4, 2), (2, 4), (2, 0),  # edge centres
            (1, 1), (3, 1), (1, 3), (3, 3)]  # quarter points
    return [(i * w_step, j * h_step) for i, j in grid]


class _Choices:
    """Stands in for the ``random`` module of mmaction2's transform: records
    each list ``choice`` draws from and picks the given indices."""

    def __init__(self, picks):
        self.picks = list(picks)
        self.seen = []

    def choice(self, seq):
        self.seen.append(list(seq))
        return seq[self.picks.pop(0)]


# (W, H): K400-like 340 x 256; a short side of 226 (crops snap to 224 px); a
# portrait frame.
@pytest.mark.parametrize('image_w,image_h', [(340, 256), (300, 226),
                                             (240, 320)])
def test_mmaction_multiscale_crop_equals_the_authors(monkeypatch, image_w,
                                                     image_h):
    """Every crop size and fixed offset mmaction2's MultiScaleCrop
    (``num_fixed_crops=13``) can draw is the authors', in the same order."""
    scales = (1, 0.875, 0.75, 0.66)
    sizes = authors_crop_sizes(image_w, image_h, 224, scales, 1)
    assert len(sizes) == 10
    transform = MultiScaleCrop(224, scales=scales, random_crop=False,
                               max_wh_scale_gap=1, num_fixed_crops=13)
    for k, (crop_w, crop_h) in enumerate(sizes):
        offsets = authors_fixed_offsets(image_w, image_h, crop_w, crop_h)
        if min(image_w - crop_w, image_h - crop_h) >= 4:  # both steps > 0
            assert len(set(offsets)) == 13
        for j, (x, y) in enumerate(offsets):
            choices = _Choices([k, j])
            monkeypatch.setattr(processing, 'random', choices)
            image = np.zeros((image_h, image_w, 3), np.uint8)
            out = transform(dict(img_shape=(image_h, image_w), imgs=[image]))
            assert len(choices.seen) == 2  # a size, then an offset
            assert [tuple(o) for o in choices.seen[1]] == offsets
            assert out['crop_bbox'].tolist() == [x, y, x + crop_w,
                                                 y + crop_h]
            assert out['imgs'][0].shape == (crop_h, crop_w, 3)
