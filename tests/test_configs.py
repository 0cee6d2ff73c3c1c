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
#: Probes that are not mmaction2 recognizers run in mmivnext's scope.
MMIVNEXT_PROBE_DIRS = ('/configs/probes/depth/',
                       '/configs/probes/anticipation/',
                       '/configs/probes/tracking/', )


def is_mmivnext_probe(path):
    return any(d in path for d in MMIVNEXT_PROBE_DIRS)


def load(relative):
    return Config.fromfile(osp.join(ROOT, 'configs', relative))


def ablation(stage, variant, frames=8):
    """A config of configs/ivnext/ablations/: ``variant`` of the Stage-1 or
    Stage-2 ablation setting (``'ablation'`` is the setting itself), with
    ``frames``-frame clips."""
    return Config.fromfile(osp.join(
        ABLATIONS, f'ivnext-stage{stage}-{variant}_vit-base-p14_32xb32-'
        f'{frames}x1x1-30e_k710.py'))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_loads(path):
    cfg = Config.fromfile(path)
    # Probes run in mmaction2's scope, naming mmivnext's parts with theirs.
    expected = 'mmaction' if ('/configs/probes/' in path
                              or '/configs/finetune/' in path) else 'mmivnext'
    if is_mmivnext_probe(path):
        expected = 'mmivnext'
    assert cfg.default_scope == expected
    assert 'model' in cfg and 'train_dataloader' in cfg


#: The four pretraining recipes users run by name; every other config is
#: named by the convention of configs/README.md.
RECIPE_NAMES = ('ivnext/stage1_vitb.py', 'ivnext/stage1_vitl.py',
                'ivnext/stage2_vitb.py', 'ivnext/stage2_vitl.py')
NAMED_CONFIGS = [
    p for p in CONFIGS
    if osp.relpath(p, osp.join(ROOT, 'configs')) not in RECIPE_NAMES
]
#: Algorithm tokens; a variant extends one (``ivnext-stage1-pixel-baseline``).
ALGORITHMS = ('ivnext-stage1', 'ivnext-stage2', 'attentive-probe',
              'depth-probe', 'box-tracking-probe', 'anticipation-probe',
              'finetune', 'recognizer3d')
_WORD = r'[a-z0-9]+(?:-[a-z0-9]+)*'
#: ``{algorithm}_{backbone}_{gpus}xb{batch}-{frames}x{interval}x{clips}-
#: {epochs}e_{data}.py``; time-based sampling writes ``{frames}f{fps}fps``.
CONFIG_NAME = (
    rf'(?P<algorithm>{_WORD})_'
    rf'(?P<backbone>(?:{_WORD}-)?vit-(?:tiny|small|base|large|giant|1b)-p\d+)_'
    r'(?P<gpus>\d+)xb(?P<batch>\d+)-'
    r'(?:(?P<frames>\d+)x(?P<interval>\d+)x(?P<clips>\d+)'
    r'|(?P<time_frames>\d+)f(?P<fps>\d+)fps)-'
    r'(?P<epochs>\d+)e_'
    rf'(?P<data>{_WORD})\.py')


def parse_config_name(path):
    """The parts of a config file name (``re.Match``), or None."""
    import re
    return re.fullmatch(CONFIG_NAME, osp.basename(path))


def test_recipes_keep_their_names():
    for name in RECIPE_NAMES:
        assert osp.isfile(osp.join(ROOT, 'configs', name)), name
    assert len(NAMED_CONFIGS) == len(CONFIGS) - len(RECIPE_NAMES)


@pytest.mark.parametrize('path', NAMED_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in NAMED_CONFIGS])
def test_config_name_follows_the_convention(path):
    """The name parses, its algorithm is a known one (or a variant of one),
    and its numbers are the config's own."""
    match = parse_config_name(path)
    assert match, f'{osp.basename(path)} breaks configs/README.md'
    algorithm = match['algorithm']
    assert any(algorithm == a or algorithm.startswith(a + '-')
               for a in ALGORITHMS), algorithm
    # Probes and fine-tuning name the encoder's source (`ivnext-vit-base-p14`),
    # the configs that train an encoder its architecture alone.
    trains_encoder = algorithm.startswith(('ivnext-stage', 'recognizer3d'))
    assert match['backbone'].startswith('vit-') == trains_encoder

    cfg = Config.fromfile(path)
    loader, dataset = cfg.train_dataloader, cfg.train_dataloader.dataset
    # Clips per GPU per step: repeated augmentation multiplies the videos.
    batch = loader.batch_size * dataset.get('num_repeats', 1)
    assert batch == int(match['batch'])
    base_batch = cfg.get('auto_scale_lr', {}).get('base_batch_size')
    if base_batch is not None:
        assert int(match['gpus']) * batch == base_batch
    assert cfg.train_cfg.max_epochs == int(match['epochs'])

    sampling = [step for step in dataset.get('pipeline', [])
                if step.type.split('.')[-1] == 'UniformSample']
    if match['fps'] is not None:  # time-based sampling (EK100)
        assert dataset.num_frames == int(match['time_frames'])
        assert dataset.fps == float(match['fps'])
    elif sampling:
        assert sampling[0].clip_len == int(match['frames'])
        assert sampling[0].get('num_clips', 1) == int(match['clips'])
        assert int(match['interval']) == 1  # uniform over the whole video
    else:  # window datasets (depth, tracking)
        frames = dataset.get('clip_len', dataset.get('num_frames'))
        assert frames == int(match['frames'])
        assert int(match['clips']) == 1


ALL_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))


@pytest.mark.parametrize('path', ALL_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in ALL_CONFIGS])
def test_base_references_resolve(path):
    """Every ``_base_`` entry names an existing file (the configs outside
    ``_base_/`` also load whole in test_config_loads)."""
    import ast
    tree = ast.parse(open(path, encoding='utf-8').read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            for base in [value] if isinstance(value, str) else value:
                target = osp.normpath(osp.join(osp.dirname(path), base))
                assert osp.isfile(target), f'{path}: {base}'


def test_stage1_vitb_structure():
    """The parts; the recipe numbers are tests/test_fidelity.py's."""
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
    assert (model.pixel_head.depth, model.pixel_head.width) == (6, 1536)
    assert model.teacher.image_size == 256  # 16 x 16 patches of 16 px
    optim = cfg.optim_wrapper
    assert optim.type == 'mmivnext.AnyDeviceAmpOptimWrapper'
    assert optim.dtype == 'bfloat16'
    assert cfg.train_dataloader.batch_size * 64 == \
        cfg.auto_scale_lr.base_batch_size == 2048
    steps = [s.type for s in cfg.train_dataloader.dataset.pipeline]
    assert 'mmaction.MultiScaleCrop' in steps and 'mmaction.Flip' in steps


def test_stage1_vitl_changes_only_the_encoder():
    vitb, vitl = load('ivnext/stage1_vitb.py'), load('ivnext/stage1_vitl.py')
    assert vitl.model.backbone.arch == 'large'
    assert vitl.model.backbone.drop_path_rate == 0.2
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
        ('pixel-align-linear-head', lambda m: m.pixel_head.type ==
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
    cfg = ablation(1, name)
    assert check(cfg.model), name
    # The ablation setting: 8-frame clips (16-frame position-embedding
    # tables, as the authors' code), SigLIP2-Large, 30 epochs.
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.train_dataloader.dataset.pipeline[1].clip_len == 8
    assert cfg.model.backbone.num_frames == 16
    if cfg.model.teacher is not None:
        assert 'siglip2-large' in cfg.model.teacher.pretrained


def test_stage2_vitb_structure():
    """The parts; the recipe numbers are tests/test_fidelity.py's."""
    cfg = load('ivnext/stage2_vitb.py')
    model = cfg.model
    assert model.type == 'InternVideoNextStage2'
    # 16-frame position-embedding tables for 32-frame clips (the authors').
    assert model.backbone.num_frames == 16
    assert model.teacher.type == 'FrozenVideoTeacher'
    # Student and teacher start from the same Stage-1 init.
    assert model.teacher.checkpoint == model.init_checkpoint
    assert model.teacher.backbone.num_frames == 16
    assert model.masker.type == 'MultiBlockMasker'
    assert model.predictor.init == 'none'  # its weights come from Stage 1
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.train_dataloader.batch_size * 64 == 2048
    sampling = cfg.train_dataloader.dataset.pipeline[1]
    assert sampling.clip_len == 32


def test_stage2_vitl():
    cfg = load('ivnext/stage2_vitl.py')
    assert cfg.model.backbone.arch == cfg.model.teacher.backbone.arch == \
        'large'
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
         and 'siglip2-large' in c.model.teacher.pretrained),
        ('internvideo2-target', lambda c: c.model.teacher.type ==
         'FrozenVideoTeacher' and c.model.teacher.prefix == ''),
        ('visible-align', lambda c: c.model.visible_align_head is not None),
        ('pixel-loss', lambda c: c.model.pixel_head.type == 'DiffMLPHead'),
        pytest.param(
            ('ablation', 16), lambda c: c.model.masker.mask_cfgs[0].max_visible
            == 800 and c.train_dataloader.dataset.pipeline[1].clip_len == 16,
            id='ablation-16x1x1'),
        pytest.param(
            ('ablation', 32), lambda c: c.model.masker.mask_cfgs[1].max_visible
            == 1600 and c.train_dataloader.dataset.pipeline[1].clip_len == 32,
            id='ablation-32x1x1'),
        ('semantic-mask', lambda c: c.model.masker.type == 'SemanticMasker'
         and c.model.mask_teacher.type == 'SigLIPTeacher'),
    ])
def test_table3_table4_stage2_ablation(name, check):
    cfg = ablation(2, *name) if isinstance(name, tuple) else ablation(2, name)
    assert check(cfg), name
    assert cfg.train_cfg.max_epochs == 30


@pytest.mark.parametrize('frames', [16, 32])
def test_table4_stage1_frame_counts(frames):
    cfg = ablation(1, 'ablation', frames)
    assert cfg.model.backbone.num_frames == 16  # the tables' frames
    assert cfg.train_dataloader.dataset.pipeline[1].clip_len == frames


@pytest.mark.parametrize('name, classes', [('k400', 400), ('k700', 700),
                                           ('ssv2', 174), ('coin', 180),
                                           ('mit', 339)])
@pytest.mark.parametrize('size, width', [('vit-base', 768),
                                         ('vit-large', 1024)])
def test_attentive_probe_configs(name, classes, size, width):
    cfg = load(f'probes/attentive-probe_ivnext-{size}-p14_8xb32-16x1x1-20e_'
               f'{name}.py')
    backbone, head = cfg.model.backbone, cfg.model.cls_head
    assert backbone.type == 'mmivnext.VisionTransformer3D'
    assert backbone.frozen_stages == (12 if size == 'vit-base' else 24)
    assert backbone.init_cfg.type == 'Pretrained'
    assert (head.type, head.num_classes, head.in_channels) == (
        'mmivnext.AttentiveProbeHead', classes, width)
    steps = [s.type for s in cfg.train_dataloader.dataset.pipeline]
    assert ('Flip' in steps) == (name != 'ssv2')
    assert cfg.test_dataloader.dataset.pipeline[1].num_clips == 4
    assert cfg.optim_wrapper.constructor == \
        'mmivnext.LayerDecayOptimWrapperConstructor'


@pytest.mark.parametrize('name, classes, lr, epochs, flip', [
    ('20e_k400', 400, 3e-4, 20, True), ('30e_ssv2', 174, 1e-3, 30, False),
    ('20e_coin', 180, 2e-4, 20, True)])
@pytest.mark.parametrize('size, decay', [('vit-base', 0.75),
                                         ('vit-large', 0.85)])
def test_finetune_configs_follow_table15(name, classes, lr, epochs, flip,
                                         size, decay):
    cfg = load(f'finetune/finetune_ivnext-{size}-p14_32xb32-16x1x1-{name}.py')
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == decay
    assert cfg.train_cfg.max_epochs == epochs
    warmup = cfg.param_scheduler[0]
    assert (warmup.type, warmup.end) == ('LinearLR', 5)
    head = cfg.model.cls_head
    assert (head.num_classes, head.label_smooth_eps) == (classes, 0.1)
    blending = cfg.model.data_preprocessor.blending
    assert (blending.type, blending.alpha, blending.num_classes) == (
        'CutmixBlending', 1.0, classes)
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.num_repeats) == ('RepeatAugDataset', 2)
    steps = {s.type: s for s in dataset.pipeline}
    assert ('Flip' in steps) == flip
    randaug = steps['TorchVisionWrapper']
    assert (randaug.op, randaug.magnitude) == ('RandAugment', 9)


#: The model-zoo rows (configs/probes/zoo/) build and run at tiny size in
#: tests/test_model_zoo.py: their encoders are transformers checkpoints or up
#: to a billion parameters.
MMACTION_CONFIGS = [p for p in CONFIGS if ('/configs/probes/' in p
                    or '/configs/finetune/' in p or '/configs/demo/' in p)
                    and not is_mmivnext_probe(p)
                    and '/configs/probes/zoo/' not in p]


@pytest.mark.parametrize('path', MMACTION_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in MMACTION_CONFIGS])
def test_recognizer_config_builds(path):
    """The probe / fine-tuning models build (without their encoder file) and
    classify a small clip."""
    import torch
    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings

    import mmivnext.models  # noqa: F401
    from mmaction.registry import MODELS
    cfg = Config.fromfile(path)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model
    model_cfg.backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    backbone = model.backbone
    frames = backbone.grid_size[0] * backbone.tubelet_size
    size = backbone.grid_size[1] * backbone.patch_size
    # One tiny clip at the model's own size is too slow for ViT-L on CPU:
    # check the head on features of the right width instead.
    feats = torch.randn(2, backbone.num_cls_tokens + 4, backbone.embed_dims)
    if 'featmap' == backbone.out_type:
        feats = torch.randn(2, backbone.embed_dims, 1, 2, 2)
    scores = model.cls_head(feats)
    assert scores.shape == (2, model.cls_head.num_classes)
    assert frames >= 1 and size >= 14
