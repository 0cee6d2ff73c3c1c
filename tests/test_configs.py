"""Every shipped config loads, and the Stage-1 configs say what the paper says."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)
ABLATIONS = osp.join(ROOT, 'configs', 'ivnext', 'ablations')


def load(relative):
    return Config.fromfile(osp.join(ROOT, 'configs', relative))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_loads(path):
    cfg = Config.fromfile(path)
    # Probes run in mmaction2's scope, naming mmivnext's parts with theirs.
    expected = 'mmaction' if '/configs/probes/' in path else 'mmivnext'
    assert cfg.default_scope == expected
    assert 'model' in cfg and 'train_dataloader' in cfg


def test_stage1_vitb_is_the_paper_recipe():
    cfg = load('ivnext/stage1_vitb.py')
    model = cfg.model
    assert model.type == 'InternVideoNextStage1'
    assert (model.backbone.arch, model.backbone.num_frames,
            model.backbone.img_size, model.backbone.patch_size) == (
                'base', 16, 224, 14)
    assert model.backbone.drop_path_rate == 0.1
    assert model.masker == dict(type='SemanticMasker', mask_ratio=0.8,
                                mode='sample')
    assert model.predictor.num_layers == 5
    assert model.predictor.pretrained == 'answerdotai/ModernBERT-large'
    assert model.predictor.grid_size == (16, 16, 16)
    assert (model.pixel_head.depth, model.pixel_head.width,
            model.pixel_head.target_dims) == (6, 1536, 588)
    assert model.teacher.image_size == 256  # 16 x 16 patches of 16 px
    optim = cfg.optim_wrapper
    assert optim.type == 'mmivnext.AnyDeviceAmpOptimWrapper'
    assert optim.dtype == 'bfloat16'
    assert optim.optimizer.lr == 1e-3
    assert tuple(optim.optimizer.betas) == (0.9, 0.98)
    assert optim.optimizer.weight_decay == 0.05
    assert optim.clip_grad is not None
    assert cfg.train_cfg.max_epochs == 50
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 5)
    assert (cosine.type, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', 5, 50)
    assert cfg.train_dataloader.batch_size * 64 == \
        cfg.auto_scale_lr.base_batch_size == 2048
    steps = [s.type for s in cfg.train_dataloader.dataset.pipeline]
    assert 'mmaction.MultiScaleCrop' in steps and 'mmaction.Flip' in steps


def test_stage1_vitl_changes_only_the_encoder():
    vitb, vitl = load('ivnext/stage1_vitb.py'), load('ivnext/stage1_vitl.py')
    assert vitl.model.backbone.arch == 'large'
    assert vitl.model.backbone.drop_path_rate == 0.2
    assert vitl.model.predictor.in_dims == vitl.model.align_head.in_dims == 1024
    assert vitl.optim_wrapper == vitb.optim_wrapper
    assert vitl.train_dataloader == vitb.train_dataloader


@pytest.mark.parametrize(
    'name, check',
    [
        ('pixel-baseline', lambda m: m.teacher is None and m.align_head is None
         and m.masker.type == 'RandomMasker'
         and m.pixel_head.type == 'LinearPixelHead'),
        ('align-only', lambda m: m.predictor is None and m.pixel_head is None
         and m.align_head is not None),
        ('pixel-align_linear-head', lambda m: m.pixel_head.type ==
         'LinearPixelHead' and m.predictor.init == 'none'),
        ('predictor-no-init', lambda m: m.pixel_head.type == 'DiffMLPHead' and
         m.predictor.init == 'none'),
        ('linear-head', lambda m: m.pixel_head.type == 'LinearPixelHead' and
         m.predictor.init == 'pretrained'),
        ('mlp-head', lambda m: m.pixel_head.type == 'MLPPixelHead'),
        ('predictor-last2', lambda m: m.predictor.num_layers == 2),
        ('predictor-last8', lambda m: m.predictor.num_layers == 8),
        ('vit-predictor-d5', lambda m: m.predictor.type ==
         'VisionTransformerPredictor' and m.predictor.num_layers == 5),
        ('vit-predictor-d12', lambda m: m.predictor.num_layers == 12),
        ('diffmlp-d3w1024', lambda m: (m.pixel_head.depth, m.pixel_head.width)
         == (3, 1024)),
        ('diffmlp-d9w2048', lambda m: (m.pixel_head.depth, m.pixel_head.width)
         == (9, 2048)),
        # Table 4 variants on the same setting.
        ('multi-block-mask', lambda m: m.masker.type == 'MultiBlockMasker'),
    ])
def test_table1_ablation(name, check):
    cfg = Config.fromfile(osp.join(ABLATIONS, f'stage1_vitb_{name}.py'))
    assert check(cfg.model), name
    # The ablation setting: 8 frames, SigLIP2-Large, 30 epochs.
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.model.backbone.num_frames == 8
    if cfg.model.teacher is not None:
        assert 'siglip2-large' in cfg.model.teacher.pretrained
    if cfg.model.predictor is not None:
        assert tuple(cfg.model.predictor.grid_size) == (8, 16, 16)


def test_stage2_vitb_is_the_paper_recipe():
    cfg = load('ivnext/stage2_vitb.py')
    model = cfg.model
    assert model.type == 'InternVideoNextStage2'
    assert model.backbone.num_frames == 32
    assert model.teacher.type == 'FrozenVideoTeacher'
    # Student and teacher start from the same Stage-1 init.
    assert model.teacher.checkpoint == model.init_checkpoint
    assert model.teacher.backbone.num_frames == 32
    assert model.masker.type == 'MultiBlockMasker'
    assert tuple(model.predictor.grid_size) == (32, 16, 16)
    assert model.predictor.init == 'none'  # its weights come from Stage 1
    assert model.head.out_dims == model.predictor.in_dims == 768
    optim = cfg.optim_wrapper
    assert optim.optimizer.lr == 1e-4
    assert optim.optimizer.weight_decay == 0.05
    assert optim.dtype == 'bfloat16'
    assert cfg.train_cfg.max_epochs == 100
    (cosine, ) = cfg.param_scheduler  # no warmup
    assert (cosine.type, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', 0, 100)
    assert cfg.train_dataloader.batch_size * 64 == 2048
    sampling = cfg.train_dataloader.dataset.pipeline[1]
    assert sampling.clip_len == 32


def test_stage2_vitl():
    cfg = load('ivnext/stage2_vitl.py')
    assert cfg.model.backbone.arch == cfg.model.teacher.backbone.arch == \
        'large'
    assert cfg.model.head.out_dims == cfg.model.predictor.in_dims == 1024
    assert cfg.train_dataloader.batch_size * 64 == 1024
    assert 'stage1_vitl' in cfg.model.init_checkpoint


@pytest.mark.parametrize(
    'name, check',
    [
        ('zero-init-vit-predictor', lambda c: c.model.predictor.type ==
         'VisionTransformerPredictor' and not c.model.load_predictor),
        ('ema-target', lambda c: c.custom_hooks[0].type == 'TeacherEMAHook'
         and c.custom_hooks[0].momentum == 0.9998),
        ('siglip2-target', lambda c: c.model.teacher.type == 'SigLIPTeacher'
         and c.model.head.out_dims == 1024),
        ('internvideo2-target', lambda c: c.model.teacher.type ==
         'FrozenVideoTeacher' and c.model.teacher.prefix == ''),
        ('visible-align', lambda c: c.model.visible_align_head is not None),
        ('pixel-loss', lambda c: c.model.pixel_head.type == 'DiffMLPHead'),
        ('ablation-f16', lambda c: c.model.backbone.num_frames == 16 and
         c.train_dataloader.dataset.pipeline[1].clip_len == 16),
        ('ablation-f32', lambda c: tuple(c.model.predictor.grid_size) ==
         (32, 16, 16)),
        ('semantic-mask', lambda c: c.model.masker.type == 'SemanticMasker'
         and c.model.mask_teacher.type == 'SigLIPTeacher'),
    ])
def test_table3_table4_stage2_ablation(name, check):
    cfg = Config.fromfile(osp.join(ABLATIONS, f'stage2_vitb_{name}.py'))
    assert check(cfg), name
    assert cfg.train_cfg.max_epochs == 30


@pytest.mark.parametrize('frames', [16, 32])
def test_table4_stage1_frame_counts(frames):
    cfg = Config.fromfile(
        osp.join(ABLATIONS, f'stage1_vitb_ablation-f{frames}.py'))
    assert cfg.model.backbone.num_frames == frames
    assert tuple(cfg.model.predictor.grid_size) == (frames, 16, 16)
    assert cfg.train_dataloader.dataset.pipeline[1].clip_len == frames


@pytest.mark.parametrize('name, classes', [('k400', 400), ('k700', 700),
                                           ('ssv2', 174), ('coin', 180),
                                           ('mit', 339)])
@pytest.mark.parametrize('size, width', [('vitb', 768), ('vitl', 1024)])
def test_attentive_probe_configs(name, classes, size, width):
    cfg = load(f'probes/attentive-probe_ivnext-{size}-p14_8xb32-16x1x1-20e_'
               f'{name}.py')
    backbone, head = cfg.model.backbone, cfg.model.cls_head
    assert backbone.type == 'mmivnext.VisionTransformer3D'
    assert backbone.frozen_stages == (12 if size == 'vitb' else 24)
    assert backbone.init_cfg.type == 'Pretrained'
    assert (head.type, head.num_classes, head.in_channels) == (
        'mmivnext.AttentiveProbeHead', classes, width)
    steps = [s.type for s in cfg.train_dataloader.dataset.pipeline]
    assert ('Flip' in steps) == (name != 'ssv2')
    assert cfg.test_dataloader.dataset.pipeline[1].num_clips == 4
    assert cfg.optim_wrapper.constructor == \
        'mmivnext.LayerDecayOptimWrapperConstructor'
