"""BoxTrackingProbe on a tiny frozen encoder: modes, freezing, padding; the
tracking configs; and a real Runner (tools/train.py) that trains on the
synthetic set and validates with BoxTrackingMetric."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch.testing import assert_close

from mmivnext.models.probes import BoxTrackingProbe
from mmivnext.registry import MODELS
from mmivnext.testing.tiny_tracking import (make_tracking_set, random_samples,
                                            tiny_probe_cfg)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TRACKING = osp.join(ROOT, 'configs', 'probes', 'tracking')
TINY_CONFIG = osp.join(TRACKING, 'box-tracking-probe_ivnext-vit-tiny-p14_'
                       '1xb8-16x1x1-10e_synthetic-tracking.py')
WAYMO_CONFIG = osp.join(TRACKING, 'box-tracking-probe_ivnext-vit-large-p14_'
                        '8xb32-16x2x1-20e_waymo.py')
T, SIZE = 16, 28


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(tiny_probe_cfg(T, SIZE, **kwargs))
    model.init_weights()
    return model


def clips(batch):
    return torch.randint(0, 256, (batch, 3, T, SIZE, SIZE), dtype=torch.uint8)


def preprocess(model, batch_size, counts):
    data = dict(inputs=list(clips(batch_size)),
                data_samples=random_samples(counts, T))
    data = model.data_preprocessor(data, training=True)
    return data['inputs'], data['data_samples']


def test_modes_with_1_to_25_objects():
    model = build()
    inputs, samples = preprocess(model, 3, [1, 25, 4])
    assert inputs.shape == (3, 3, T, SIZE, SIZE)
    assert inputs.dtype == torch.float32  # normalised

    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_bbox', 'loss_giou'}
    assert all(torch.isfinite(v) for v in losses.values())

    out = model(inputs, samples, mode='tensor')
    assert out.shape == (3, 25, T - 1, 4)

    model.eval()
    predicted = model(inputs, samples, mode='predict')
    for sample, n in zip(predicted, [1, 25, 4]):
        assert sample.pred_boxes.shape == (n, T, 4)
        # Frame 1 is the given box; the others lie in the frame.
        assert_close(sample.pred_boxes[:, 0], sample.gt_boxes[:, 0])
        assert 0 <= sample.pred_boxes.min() and sample.pred_boxes.max() <= 1
    # Padding does not change another window's objects.
    alone = model(inputs[:1], [samples[0]], mode='tensor')
    assert_close(alone[0, :1], out[0, :1], atol=1e-5, rtol=0)


def test_encoder_is_frozen_and_only_the_head_learns():
    model = build()
    model.train()
    assert not model.backbone.training and model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, samples = preprocess(model, 2, [2, 3])
    for _ in range(3):
        loss = sum(model(inputs, samples, mode='loss').values())
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert all(p.grad is None for p in model.backbone.parameters())
    for key, value in model.backbone.state_dict().items():
        assert_close(value, before[key])
    assert model.head.regressor.weight.grad.abs().sum() > 0


def test_overfitting_one_batch_lowers_the_loss():
    model = build()
    optim = torch.optim.AdamW(model.head.parameters(), lr=3e-3)
    inputs, samples = preprocess(model, 2, [2, 1])
    history = []
    for _ in range(40):
        loss = sum(model(inputs, samples, mode='loss').values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert sum(history[-5:]) < 0.6 * sum(history[:5]), history


def test_refuses_a_backbone_that_is_not_fully_frozen():
    cfg = tiny_probe_cfg(T, SIZE)
    with pytest.raises(ValueError, match=r'frozen_stages=2 \(all layers; '
                       r'got 1\)'):
        MODELS.build(dict(cfg, backbone=dict(cfg['backbone'],
                                             frozen_stages=1)))
    with pytest.raises(ValueError, match="out_type='featmap'"):
        MODELS.build(dict(cfg, backbone=dict(cfg['backbone'],
                                             out_type='raw')))
    with pytest.raises(ValueError, match='in_channels'):
        MODELS.build(dict(cfg, head=dict(cfg['head'], in_channels=32)))


def test_data_sample_errors_name_the_window():
    model = build()
    inputs = clips(1).float()
    with pytest.raises(ValueError, match='needs the data samples'):
        model(inputs, None, mode='tensor')
    sample = random_samples([2], num_frames=8)[0]
    with pytest.raises(ValueError, match=r"window 0 \(sequence 'seq0'\): "
                       r'expected gt_boxes \[N >= 1, 16, 4\]'):
        model(inputs, [sample], mode='loss')
    with pytest.raises(ValueError, match='mode must be'):
        model(inputs, random_samples([1]), mode='train')


# ---------------------------------------------------------------- configs
def test_waymo_config_is_the_released_vitl_probe():
    cfg = Config.fromfile(WAYMO_CONFIG)
    assert cfg.default_scope == 'mmivnext'
    model = cfg.model
    assert model.type == 'BoxTrackingProbe'
    attentive = Config.fromfile(osp.join(
        ROOT, 'configs/probes',
        'attentive-probe_ivnext-vit-large-p14_8xb32-16x1x1-20e_k400.py'
    )).model.backbone
    # The same encoder as the ViT-L attentive probe, as a feature map.
    differs = {k for k in set(attentive) | set(model.backbone)
               if k != 'type' and attentive.get(k) != model.backbone.get(k)}
    assert differs == {'out_type'} and model.backbone.out_type == 'featmap'
    assert model.backbone.frozen_stages == 24
    head = model.head
    assert (head.in_channels, head.num_frames) == (1024, 16)
    assert (head.loss_bbox.loss_weight, head.loss_giou.loss_weight) == (1., .5)
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.num_frames) == ('VideoBoxTrackingDataset',
                                                  16)
    assert cfg.val_evaluator.type == 'BoxTrackingMetric'
    assert cfg.default_hooks.checkpoint.save_best == 'tracking/mean_iou'
    # The head builds from the config and reads ViT-L features.
    built = MODELS.build(head)
    out = built(torch.randn(1, 1024, 2, 2, 2), torch.tensor([[[.1, .1, .5,
                                                               .5]]]))
    assert out.shape == (1, 1, 15, 4)


def test_tiny_config_trains_and_validates_through_tools_train(tmp_path):
    """A real Runner from tools/train.py: 2 epochs of the tiny config on the
    synthetic set (random frozen encoder of width 64, 16 frames of 28 px),
    validating with BoxTrackingMetric after each epoch."""
    paths = make_tracking_set(str(tmp_path / 'data'))
    spec = importlib.util.spec_from_file_location(
        'tracking_train_tool', osp.join(ROOT, 'tools/train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    work_dir = tmp_path / 'work_dir'
    options = [
        'model.backbone.init_cfg=None',
        'model.backbone.arch.embed_dims=64',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.num_layers=2',
        'model.backbone.arch.feedforward_channels=128',
        'model.backbone.frozen_stages=2',
        'model.backbone.projector_cfg.num_heads=2',
        f'model.backbone.img_size={SIZE}',
        'model.head.in_channels=64',
        'model.head.embed_dims=32',
        'model.head.num_heads=2',
        'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
    ]
    for split in ('train', 'val', 'test'):
        options += [
            f'{split}_dataloader.dataset.data_root={paths["root"]}',
            f'{split}_dataloader.batch_size=4',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.dataset.pipeline.1.scale={SIZE}',
        ]
    train.main([TINY_CONFIG, '--work-dir', str(work_dir),
                '--cfg-options', *options])

    assert (work_dir / 'epoch_2.pth').is_file()
    checkpoint = torch.load(work_dir / 'epoch_2.pth', map_location='cpu',
                            weights_only=True)
    assert any(k.startswith('head.regressor') for k in
               checkpoint['state_dict'])
    # The validation ran the metric after each epoch.
    (log_dir, ) = [p for p in work_dir.iterdir() if p.is_dir()]
    scalars = [json.loads(line) for line in
               open(log_dir / 'vis_data' / 'scalars.json')]
    ious = [s['tracking/mean_iou'] for s in scalars
            if 'tracking/mean_iou' in s]
    assert len(ious) == 2 and all(0 < v <= 100 for v in ious), ious
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) >= 4 and all(v == v for v in losses)  # no NaN


def test_model_class_is_exported():
    assert MODELS.get('BoxTrackingProbe') is BoxTrackingProbe
