"""DepthProbe: a frozen tiny encoder (2 layers, width 64, 4 frames of 28 x 56)
with the depth head; the modes, the freezing, the configs of Table 6, and a
real MMEngine Runner that trains and validates on the synthetic depth set."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmivnext.registry import DATASETS, MODELS
from mmivnext.testing import make_synthetic_depth_sequences

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'configs', 'probes', 'depth')
TINY = osp.join(CONFIGS,
                'depth-probe_ivnext-vit-tiny-p14_1xb4-4x1x1-10e_synthetic-depth.py')
KITTI = osp.join(CONFIGS, 'depth-probe_ivnext-vit-large-p14_8xb16-32x1x1-30e_kitti.py')
SCANNET = osp.join(CONFIGS,
                   'depth-probe_ivnext-vit-large-p14_8xb32-16x1x1-30e_scannet.py')


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    """4 train and 2 val sequences of 12 frames, 48 x 64 (the tiny config's
    input)."""
    return make_synthetic_depth_sequences(
        str(tmp_path_factory.mktemp('synthetic_depth')), num_frames=12)


def tiny_cfg(data_root):
    cfg = Config.fromfile(TINY)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.persistent_workers = False
    return cfg


def build(cfg, init_weights=True):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        model = MODELS.build(copy.deepcopy(cfg))
    if init_weights:
        model.init_weights()
    return model


def batch(cfg, split='train', n=2):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    return pseudo_collate([dataset[i] for i in range(n)])


def test_modes_and_frozen_encoder(synthetic):
    torch.manual_seed(0)
    cfg = tiny_cfg(synthetic['root'])
    model = build(cfg.model)
    model.train()
    assert not model.backbone.training
    assert all(not p.requires_grad for p in model.backbone.parameters())
    data = model.data_preprocessor(batch(cfg), True)
    assert data['inputs'].shape == (2, 3, 4, 28, 56)
    losses = model(**data, mode='loss')
    losses['loss_depth'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.head.query.grad.abs().sum() > 0
    assert model(data['inputs'], mode='tensor').shape == (2, 4, 28, 56)
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch(cfg, 'val'), False),
                    mode='predict')
    assert out[0].pred_depth.shape == out[0].gt_depth.shape == (4, 28, 56)
    assert (out[0].pred_depth > 0).all()
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(data['inputs'], mode='nope')


def test_refuses_a_trainable_encoder_and_other_clip_sizes(synthetic):
    cfg = tiny_cfg(synthetic['root']).model
    with pytest.raises(ValueError, match='frozen_stages=2 .*got '
                       'frozen_stages=1'):
        build(dict(cfg, backbone=dict(cfg.backbone, frozen_stages=1)))
    with pytest.raises(ValueError, match="out_type='raw'"):
        build(dict(cfg, backbone=dict(cfg.backbone, out_indices=(0, 1))))
    model = build(cfg)
    with pytest.raises(ValueError, match=r'clips of \(4, 28, 42\) .* built '
                       r'for \(4, 28, 56\)'):
        model(torch.zeros(1, 3, 4, 28, 42), mode='tensor')


@pytest.mark.parametrize('path, frames, stride, scale, max_depth, batch_size',
                         [(KITTI, 32, 10, 256., 80., 16),
                          (SCANNET, 16, 5, 1000., 10., 32)])
def test_table6_configs(path, frames, stride, scale, max_depth, batch_size):
    """Paper appendix A.3: windows, ranges, batch (x 8 GPUs), 30 epochs; a
    frozen released-layout ViT-L and a 1536-wide head (built on the meta
    device: no memory, no encoder file)."""
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmivnext'
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert (dataset.type, dataset.clip_len, dataset.stride,
                dataset.depth_scale) == ('VideoDepthDataset', frames, stride,
                                         scale)
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == {16: 128, 32: 256}[batch_size]
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert (evaluator.type, evaluator.min_depth, evaluator.max_depth) == (
            'DepthMetric', 1e-3, max_depth)
    assert cfg.model.head.depth_range == (1e-3, max_depth)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    with torch.device('meta'):
        model = build(dict(cfg.model, backbone=dict(cfg.model.backbone,
                                                    init_cfg=None)),
                      init_weights=False)
    backbone, head = model.backbone, model.head
    assert (backbone.embed_dims, backbone.num_layers) == (1024, 24)
    assert backbone.frozen_stages == 24
    assert backbone.grid_size == (frames, 16, 16)
    assert (head.embed_dims, head.in_channels) == (1536, 1024)
    assert head.query.shape == (1, frames * 16 * 16, 1536)
    assert type(head.loss_module).__name__ == 'SILogLoss'
    assert head.loss_module.variance_focus == 0.85


def test_runner_trains_and_validates(synthetic, tmp_path):
    cfg = tiny_cfg(synthetic['root'])
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2,
                         val_interval=2)
    cfg.param_scheduler = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # Between the checkpoints of epochs 1 and 2 the head moved, the encoder
    # (saved with the probe, for tools/test.py) did not.
    epochs = [torch.load(tmp_path / 'work_dir' / f'epoch_{e}.pth',
                         map_location='cpu', weights_only=True)['state_dict']
              for e in (1, 2)]
    encoder_keys = [k for k in epochs[0] if k.startswith('backbone.')]
    assert len(encoder_keys) == len(model.backbone.state_dict())
    for key in encoder_keys:
        assert torch.equal(epochs[0][key], epochs[1][key]), key
    assert not torch.equal(epochs[0]['head.query'], epochs[1]['head.query'])
    optimised = {id(p) for group in runner.optim_wrapper.param_groups
                 for p in group['params']}
    assert not any(id(p) in optimised for p in model.backbone.parameters())
    # 4 sequences x 5 windows of 4 frames (stride 2) / batch 4 = 5 iterations.
    assert runner.iter == 10
    metrics = runner.val_loop.run()
    assert set(metrics) == {'depth/abs_rel', 'depth/delta1',
                            'depth/num_frames', 'depth/frames_without_gt'}
    assert metrics['depth/num_frames'] == 2 * 5 * 4  # val windows x frames
    assert 0 < metrics['depth/abs_rel'] < 1
    assert 0 <= metrics['depth/delta1'] <= 1


def test_image_encoder_per_frame(tmp_path):
    """A frozen PerFrameImageEncoder (the image-model rows of the zoo) is
    probed like a video encoder; a trainable one is refused."""
    from mmivnext.testing import save_tiny_siglip
    pretrained = save_tiny_siglip(str(tmp_path / 'siglip'), hidden_size=64,
                                  image_size=32)
    cfg = Config.fromfile(TINY).model
    cfg.backbone = dict(type='PerFrameImageEncoder', pretrained=pretrained)
    model = build(cfg)
    clip = torch.randn(1, 3, 4, 28, 56)
    assert model(clip, mode='tensor').shape == (1, 4, 28, 56)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    cfg.backbone.frozen = False
    with pytest.raises(ValueError, match='frozen=True'):
        build(cfg)
