"""ActionAnticipationProbe: Stage-2 loading, future prediction, modes, and a
real Runner on the synthetic EK100 set; the configs."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmivnext.registry import MODELS
from mmivnext.testing import make_synthetic_ek100

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'configs', 'probes', 'anticipation')
VITL_CONFIG = osp.join(
    CONFIGS, 'anticipation-probe_ivnext-vit-large-p14_8xb16-32f8fps-20e_ek100.py')
TINY_CONFIG = osp.join(
    CONFIGS,
    'anticipation-probe_ivnext-vit-tiny-p14_1xb8-8f4fps-10e_synthetic-ek100.py')

#: A tiny Stage-2 encoder: 2 layers of width 64, 4 frames of 28 px (2 x 2).
ENCODER = dict(
    type='VisionTransformer3D',
    arch=dict(embed_dims=64, num_layers=2, num_heads=2,
              feedforward_channels=128),
    img_size=28, num_frames=4, num_cls_tokens=4,
    projector_cfg=dict(num_heads=2, out_dims=32), out_type='raw')


def predictor_cfg(ckpts):
    """The tiny Stage-2 predictor: 2 tiny ModernBERT layers (width 32)."""
    return dict(type='ModernBertPredictor', in_dims=64, grid_size=(4, 2, 2),
                num_cls_tokens=4, num_layers=2,
                pretrained=ckpts['predictor'], init='none')


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(copy.deepcopy(cfg))


@pytest.fixture(scope='module')
def stage2_checkpoint(tiny_checkpoints, tmp_path_factory):
    """A real (tiny) InternVideoNextStage2 model's runner checkpoint, with
    recognisable random weights; its teacher is a saved tiny encoder."""
    root = tmp_path_factory.mktemp('anticipation_stage2')
    torch.manual_seed(0)
    teacher = build(ENCODER)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                teacher.state_dict().items()}),
               root / 'teacher.pth')
    stage2 = build(dict(
        type='InternVideoNextStage2', backbone=ENCODER,
        predictor=predictor_cfg(tiny_checkpoints),
        teacher=dict(type='FrozenVideoTeacher', backbone=ENCODER,
                     checkpoint=str(root / 'teacher.pth')),
        masker=dict(type='MultiBlockMasker'),
        head=dict(type='LatentPredictionHead', in_dims=32, out_dims=64)))
    with torch.no_grad():
        for param in stage2.parameters():
            param.add_(0.05 * torch.randn_like(param))
    path = str(root / 'stage2.pth')
    torch.save(dict(state_dict=stage2.state_dict(), meta=dict(epoch=1)), path)
    return dict(path=path, model=stage2)


def probe_cfg(ckpts, stage2, **overrides):
    cfg = dict(
        type='ActionAnticipationProbe',
        backbone=dict(ENCODER, init_cfg=dict(
            type='Pretrained', checkpoint=stage2['path'],
            prefix='backbone.')),
        predictor=predictor_cfg(ckpts),
        predictor_checkpoint=stage2['path'],
        num_future_frames=2,
        future_proj='linear',
        head=dict(type='AttentiveVerbNounActionHead', in_channels=64,
                  num_verbs=4, num_nouns=3, num_actions=12, num_heads=2,
                  num_self_attn_blocks=1))
    cfg.update(overrides)
    return cfg


def clips(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 4, 28, 28, generator=gen)


def samples(labels):
    from mmaction.structures import ActionDataSample
    out = []
    for verb, noun, action in labels:
        sample = ActionDataSample()
        sample.set_field(verb, 'gt_verb')
        sample.set_field(noun, 'gt_noun')
        sample.set_field(action, 'gt_action')
        out.append(sample)
    return out


def test_init_loads_the_stage2_encoder_and_predictor_strictly(
        tiny_checkpoints, stage2_checkpoint):
    model = build(probe_cfg(tiny_checkpoints, stage2_checkpoint))
    model.init_weights()
    stage2 = stage2_checkpoint['model']
    for part in ('backbone', 'predictor'):
        expected = getattr(stage2, part).state_dict()
        loaded = getattr(model, part).state_dict()
        assert loaded.keys() == expected.keys()
        for name, value in expected.items():
            torch.testing.assert_close(loaded[name], value, msg=name)


def test_missing_or_misfitting_predictor_weights_are_refused(
        tiny_checkpoints, stage2_checkpoint, tmp_path):
    state = torch.load(stage2_checkpoint['path'], weights_only=True)[
        'state_dict']
    no_predictor = {k: v for k, v in state.items()
                    if not k.startswith('predictor.')}
    torch.save(dict(state_dict=no_predictor), tmp_path / 'a.pth')
    cfg = probe_cfg(tiny_checkpoints, stage2_checkpoint,
                    predictor_checkpoint=str(tmp_path / 'a.pth'))
    with pytest.raises(KeyError, match="prefix 'predictor.'"):
        build(cfg).init_weights()
    one_missing = dict(state)
    del one_missing['predictor.proj.fc1.weight']
    torch.save(dict(state_dict=one_missing), tmp_path / 'b.pth')
    cfg['predictor_checkpoint'] = str(tmp_path / 'b.pth')
    with pytest.raises(ValueError, match=r'missing keys \[proj\.fc1\.weight'):
        build(cfg).init_weights()
    cfg['predictor_checkpoint'] = str(tmp_path / 'none.pth')
    with pytest.raises(FileNotFoundError, match='none.pth'):
        build(cfg).init_weights()


def test_future_tokens_are_the_predictors_masked_outputs(
        tiny_checkpoints, stage2_checkpoint):
    model = build(probe_cfg(tiny_checkpoints, stage2_checkpoint))
    model.init_weights()
    x = clips()
    with torch.no_grad():
        tokens = model.extract_tokens(x)  # [B, 4 + 16 + 2 * 4, 64]
        enc = model.backbone(x)  # [B, 4 + 16, 64]
        visible = torch.arange(16).expand(2, -1)
        masked = torch.arange(16, 24).expand(2, -1)
        future = model.predictor(enc, visible, masked, grid_size=(6, 2, 2),
                                 masked_only=True)  # [B, 8, 32]
    assert tokens.shape == (2, 4 + 16 + 8, 64)
    torch.testing.assert_close(tokens[:, :20], enc)
    torch.testing.assert_close(tokens[:, 20:], model.future_proj(future))

    # A gap frame is predicted too, then dropped: same grid, last frame only.
    gap = build(probe_cfg(tiny_checkpoints, stage2_checkpoint,
                          num_future_frames=1, num_gap_frames=1))
    gap.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(gap.extract_tokens(x)[:, 20:],
                                   tokens[:, 24:])


def test_modes_and_frozen_parts(tiny_checkpoints, stage2_checkpoint):
    model = build(probe_cfg(tiny_checkpoints, stage2_checkpoint))
    model.init_weights()
    model.train()
    assert not model.backbone.training and not model.predictor.training
    assert model.head.training
    x = clips().unsqueeze(1)  # [B, 1, C, T, H, W], as the preprocessor
    data = samples([(0, 1, 1), (3, 2, 11)])
    losses = model(x, data, mode='loss')
    assert set(losses) == {'loss_verb', 'loss_noun', 'loss_action'}
    sum(losses.values()).backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained and all(n.startswith(('head.', 'future_proj.'))
                           for n in trained)
    assert 'future_proj.weight' in trained
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not any(p.requires_grad for p in model.predictor.parameters())

    model.eval()
    with torch.no_grad():
        out = model(x, samples([(0, 0, 0), (1, 1, 1)]), mode='predict')
        logits = model(x, mode='tensor')
    for task, size in (('verb', 4), ('noun', 3), ('action', 12)):
        score = out[0].get(f'pred_{task}_score')
        assert score.shape == (size, ) and 0 <= score.min() <= 1
        torch.testing.assert_close(out[1].get(f'pred_{task}_score'),
                                   logits[task][1].sigmoid())
    with pytest.raises(KeyError, match='gt_noun'):
        model(x, [{'gt_verb': 0, 'gt_action': 0}] * 2, mode='loss')
    with pytest.raises(ValueError, match='one view'):
        model(torch.cat([x, x], dim=1), mode='tensor')


def test_configuration_errors(tiny_checkpoints, stage2_checkpoint):
    with pytest.raises(ValueError, match="future_proj='linear'"):
        build(probe_cfg(tiny_checkpoints, stage2_checkpoint,
                        future_proj=None))  # 32-wide predictor, 64 encoder
    with pytest.raises(ValueError, match='no predictor'):
        build(probe_cfg(tiny_checkpoints, stage2_checkpoint, predictor=None))
    encoder_only = build(probe_cfg(tiny_checkpoints, stage2_checkpoint,
                                   predictor=None, predictor_checkpoint=None))
    assert encoder_only.extract_tokens(clips()).shape == (2, 20, 64)


@pytest.fixture(scope='module')
def synthetic_ek100(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_ek100_probe')
    return make_synthetic_ek100(str(root), num_train_videos=2,
                                num_val_videos=1, events_per_video=4,
                                size=56, fps=8.0, seed=0)


def tiny_runner_cfg(ckpts, stage2, data, work_dir):
    """The tiny synthetic config, with the test's Stage-2 model and data:
    4-frame contexts at 4 fps of 28 px."""
    cfg = Config.fromfile(TINY_CONFIG)
    model = probe_cfg(ckpts, stage2)
    cfg.model.backbone = model['backbone']
    cfg.model.predictor = model['predictor']
    cfg.model.predictor_checkpoint = stage2['path']
    cfg.model.head.in_channels = 64
    cfg.model.head.num_heads = 2
    for split, ann_file in (('train', data['train_csv']),
                            ('val', data['val_csv'])):
        loader = cfg[f'{split}_dataloader']
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = 4
        loader.dataset.ann_file = ann_file
        loader.dataset.data_prefix.video = data['video_root']
        loader.dataset.action_map_file = data['actions_csv']
        loader.dataset.num_frames = 4
        loader.dataset.pipeline[3].scale = (28, 28)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    return cfg


def test_runner_trains_and_validates_on_synthetic_ek100(
        tiny_checkpoints, stage2_checkpoint, synthetic_ek100, tmp_path):
    from mmengine.runner import Runner
    cfg = tiny_runner_cfg(tiny_checkpoints, stage2_checkpoint,
                          synthetic_ek100, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()  # 2 epochs of 2 iterations, then validation
    model = runner.model
    stage2 = stage2_checkpoint['model']
    for part in ('backbone', 'predictor'):  # frozen: still the Stage-2 ones
        for name, value in getattr(stage2, part).state_dict().items():
            torch.testing.assert_close(
                getattr(model, part).state_dict()[name], value, msg=name)
    metrics = runner.val_loop.run()
    for task in ('verb', 'noun', 'action'):
        for k in (1, 5):
            assert 0 <= metrics[f'{task}_mean_recall@{k}'] <= 100
    # 4 verbs, 3 nouns: every class is in the top 5.
    assert metrics['verb_mean_recall@5'] == metrics['noun_mean_recall@5'] \
        == 100
    checkpoint = torch.load(tmp_path / 'epoch_2.pth', weights_only=True,
                            map_location='cpu')
    assert any(k.startswith('predictor.') for k in checkpoint['state_dict'])


def test_vitl_config_follows_the_protocol():
    cfg = Config.fromfile(VITL_CONFIG)
    assert cfg.default_scope == 'mmivnext'
    model = cfg.model
    assert model.type == 'ActionAnticipationProbe'
    assert (model.backbone.arch, model.backbone.num_frames,
            model.backbone.img_size) == ('large', 32, 224)
    assert model.backbone.init_cfg.prefix == 'backbone.'
    assert model.predictor_checkpoint == model.backbone.init_cfg.checkpoint
    assert (model.predictor.num_layers, model.predictor.init,
            tuple(model.predictor.grid_size)) == (5, 'none', (32, 16, 16))
    assert model.predictor_prefix == 'predictor.'
    assert model.future_proj is None  # ModernBERT-L and ViT-L: both 1024
    head = model.head
    assert (head.num_verbs, head.num_nouns, head.num_self_attn_blocks) == (
        97, 300, 3)
    assert (head.loss.type, head.loss.gamma) == ('SigmoidFocalLoss', 2.0)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        data = loader.dataset
        assert (data.num_frames, data.fps, data.anticipation_time) == (
            32, 8.0, 1.0)
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == 128
    assert cfg.train_cfg.max_epochs == 20
    assert cfg.val_evaluator.type == 'ClassMeanRecallAtK'


def test_vitl_probe_builds_at_tiny_width(tiny_checkpoints):
    """The ViT-L config's model, shrunk (encoder, predictor, head): the
    parts fit together and run on a 32-frame clip without the checkpoint."""
    cfg = Config.fromfile(VITL_CONFIG).model
    cfg.backbone.arch = dict(embed_dims=64, num_layers=1, num_heads=2,
                             feedforward_channels=64)
    cfg.backbone.img_size = 28
    cfg.backbone.frozen_stages = 1
    cfg.backbone.projector_cfg.num_heads = 2
    cfg.backbone.pop('init_cfg')
    cfg.predictor = predictor_cfg(tiny_checkpoints)
    cfg.predictor.grid_size = (32, 2, 2)
    cfg.predictor_checkpoint = None
    cfg.future_proj = 'linear'
    cfg.head.update(in_channels=64, num_heads=2)
    model = build(cfg)
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 32, 28, 28), mode='tensor')
    assert {k: v.shape[1] for k, v in logits.items()} == dict(
        verb=97, noun=300, action=cfg.head.num_actions)
