"""The scale-out configs (configs/ivnext/scale_out/) and how tools/train.py
merges a ``strategy``.

The configs' models are built on the meta device (no memory, no init), without
the frozen SigLIP2 teacher, which is a hub download: its placement under FSDP
is tested in tests/test_engine/test_strategies and, on two ranks, in
test_dist_train_strategies.py.
"""
import glob
import importlib.util
import inspect
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.selfsup.base import with_sizes

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCALE_OUT = osp.join(ROOT, 'configs', 'ivnext', 'scale_out')
FSDP_VITL = osp.join(
    SCALE_OUT, 'ivnext-stage1-fsdp_vit-large-p14_64xb32-16x1x1-50e_k710.py')
FSDP_1B = osp.join(
    SCALE_OUT, 'ivnext-stage1-fsdp_vit-1b-p14_64xb32-16x1x1-50e_k710.py')
ZERO2 = osp.join(
    SCALE_OUT,
    'ivnext-stage1-deepspeed-zero2_vit-large-p14_64xb32-16x1x1-50e_k710.py')
ZERO3 = osp.join(
    SCALE_OUT,
    'ivnext-stage1-deepspeed-zero3_vit-large-p14_64xb32-16x1x1-50e_k710.py')
VITL = osp.join(ROOT, 'configs', 'ivnext', 'stage1_vitl.py')
HAS_DEEPSPEED = importlib.util.find_spec('deepspeed') is not None


@pytest.fixture(scope='module')
def train_tool():
    """tools/train.py as a module."""
    spec = importlib.util.spec_from_file_location(
        'mmivnext_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def demo_models(tmp_path_factory):
    from mmivnext.testing import make_demo_models
    return make_demo_models(str(tmp_path_factory.mktemp('demo_models')))


def test_every_scale_out_config_is_tested():
    found = sorted(glob.glob(osp.join(SCALE_OUT, '*.py')))
    assert found == sorted([FSDP_VITL, FSDP_1B, ZERO2, ZERO3])


@pytest.mark.parametrize('path, arch, dims', [(FSDP_VITL, 'large', 1024),
                                              (FSDP_1B, '1b', 1408),
                                              (ZERO2, 'large', 1024),
                                              (ZERO3, 'large', 1024)])
def test_configs_change_only_the_scale_out_keys(path, arch, dims):
    """The recipe is stage1_vitl.py's; the 1B config changes the encoder
    (the algorithm sizes the predictor and heads from it)."""
    cfg, vitl = Config.fromfile(path), Config.fromfile(VITL)
    assert cfg.runner_type == 'FlexibleRunner'
    model = cfg.model.to_dict()
    assert model['backbone'].pop('arch') == arch
    assert VisionTransformer3D.arch_zoo[arch]['embed_dims'] == dims
    expected = vitl.model.to_dict()
    expected['backbone'].pop('arch')
    assert model == expected
    for key in ('train_dataloader', 'param_scheduler', 'train_cfg',
                'auto_scale_lr', 'default_hooks'):
        assert cfg[key] == vitl[key], key
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer == vitl.optim_wrapper.optimizer
    assert cfg.optim_wrapper.paramwise_cfg == vitl.optim_wrapper.paramwise_cfg


@pytest.mark.parametrize('path, checkpointing, reduce_dtype', [
    (FSDP_VITL, False, 'float32'), (FSDP_1B, True, 'bfloat16')])
def test_fsdp_configs_build(path, checkpointing, reduce_dtype, demo_models,
                            tmp_path):
    import mmivnext.models  # noqa: F401
    from mmivnext.engine.strategies import AnyDeviceFSDPStrategy, classes_named
    from mmivnext.registry import MODELS, STRATEGIES
    cfg = Config.fromfile(path)
    strategy = cfg.strategy
    assert STRATEGIES.get(strategy.type) is AnyDeviceFSDPStrategy
    assert bool(strategy.checkpoint_modules) == checkpointing
    precision = strategy.model_wrapper.mixed_precision
    assert (precision.param_dtype, precision.reduce_dtype) == ('bfloat16',
                                                               reduce_dtype)
    assert strategy.state_dict_cfg == 'full'
    assert cfg.optim_wrapper.type == 'mmivnext.AnyDeviceAmpOptimWrapper'
    assert cfg.optim_wrapper.use_fsdp

    # The trainable parts at their real size, on the meta device (the
    # diffusion head's schedule needs real tensors: it is built on the CPU).
    # The predictor's layers take their shapes from the tiny demo ModernBERT
    # (ModernBERT-large is a hub download); its input projection is real.
    # The sizes are those the algorithm gives them (with_sizes), the teacher
    # SigLIP2-1B's width 1536 (a hub download too).
    model = cfg.model
    model.predictor.update(pretrained=demo_models['predictor'], init='none')
    with torch.device('meta'):
        parts = nn.ModuleDict(dict(backbone=MODELS.build(model.backbone)))
        backbone = parts.backbone
        parts['predictor'] = MODELS.build(with_sizes(
            model.predictor, 'predictor', in_dims=backbone.embed_dims,
            grid_size=backbone.grid_size,
            num_cls_tokens=backbone.num_cls_tokens))
        parts['align_head'] = MODELS.build(with_sizes(
            model.align_head, 'align_head', in_dims=backbone.embed_dims,
            out_dims=1536, grid_size=backbone.grid_size))
    parts['pixel_head'] = MODELS.build(with_sizes(
        model.pixel_head, 'pixel_head', target_dims=588,
        cond_dims=parts.predictor.embed_dims))
    millions = sum(p.numel() for p in parts.backbone.parameters()) / 1e6
    expected = dict(large=(300, 330), **{'1b': (1000, 1050)})
    low, high = expected[model.backbone.arch]
    assert low < millions < high, millions
    # Every FSDP unit / checkpointed class is in the model.
    classes_named(parts, strategy.wrap_modules, 'wrap_modules')
    if checkpointing:
        classes_named(parts, strategy.checkpoint_modules,
                      'checkpoint_modules')
    # The strategy's arguments are valid (built without a launcher).
    built = STRATEGIES.build(
        dict(strategy, work_dir=str(tmp_path),
             env_kwargs=dict(launcher='none')))
    assert built.wrap_modules == tuple(strategy.wrap_modules)


@pytest.mark.parametrize('path, stage', [(ZERO2, 2), (ZERO3, 3)])
def test_deepspeed_configs_are_valid_without_deepspeed(path, stage):
    """DeepSpeed is GPU-only and not a requirement: the strategy's keys are
    checked against DeepSpeedStrategy's signature, and the optim wrapper
    builds."""
    from mmengine._strategy import DeepSpeedStrategy
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(path)
    assert cfg.strategy.type == 'DeepSpeedStrategy'
    accepted = inspect.signature(DeepSpeedStrategy.__init__).parameters
    assert set(cfg.strategy) - {'type'} <= set(accepted)
    assert cfg.strategy.zero_optimization.stage == stage
    assert cfg.strategy.gradient_clipping == 5.0
    assert 'bf16' not in cfg.strategy and 'fp16' not in cfg.strategy
    wrapper = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'DeepSpeedOptimWrapper'
    assert wrapper.optimizer.defaults['lr'] == 8e-3  # 1e-3 per 256 clips at 2048


def test_train_merges_a_strategy(train_tool, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    args = train_tool.parse_args([
        FSDP_VITL, '--launcher', 'pytorch', '--amp', '--auto-scale-lr',
        '--resume', '--work-dir', 'w', '--cfg-options',
        'train_cfg.max_epochs=2'
    ])
    cfg = train_tool.merge_args(Config.fromfile(FSDP_VITL), args)
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.optim_wrapper.type == 'mmivnext.AnyDeviceAmpOptimWrapper'
    assert cfg.optim_wrapper.use_fsdp
    assert cfg.auto_scale_lr.enable and cfg.resume
    assert (cfg.work_dir, cfg.train_cfg.max_epochs) == ('w', 2)

    # A config with a strategy but no runner_type gets FlexibleRunner.
    plain = Config.fromfile(FSDP_VITL)
    plain.pop('runner_type')
    args = train_tool.parse_args([FSDP_VITL, '--launcher', 'pytorch'])
    assert train_tool.merge_args(plain, args).runner_type == 'FlexibleRunner'


@pytest.mark.parametrize('options, launcher, error, match', [
    ([], 'none', ValueError, 'needs a distributed launch'),
    (['strategy.type=FSDPStrategy'], 'pytorch', ValueError,
     "type='mmivnext.AnyDeviceFSDPStrategy'"),
    (['runner_type=Runner'], 'pytorch', ValueError,
     "runner_type='FlexibleRunner'"),
])
def test_train_refuses_bad_strategy_setups(train_tool, monkeypatch, options,
                                           launcher, error, match):
    monkeypatch.setenv('LOCAL_RANK', '0')
    argv = [FSDP_VITL, '--launcher', launcher]
    if options:
        argv += ['--cfg-options', *options]
    with pytest.raises(error, match=match):
        train_tool.merge_args(Config.fromfile(FSDP_VITL),
                              train_tool.parse_args(argv))


@pytest.mark.parametrize('base', [FSDP_VITL, ZERO2])
def test_train_refuses_teacher_ema_with_sharding(train_tool, monkeypatch,
                                                 tmp_path, base):
    """TeacherEMAHook averages the student's full fp32 weights: a clear
    error instead of an EMA of shards."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    path = tmp_path / 'ema.py'
    path.write_text(f'_base_ = [{base!r}]\n'
                    "custom_hooks = [dict(type='TeacherEMAHook')]\n")
    args = train_tool.parse_args([str(path), '--launcher', 'pytorch'])
    with pytest.raises(ValueError, match='TeacherEMAHook does not work with'):
        train_tool.merge_args(Config.fromfile(str(path)), args)


@pytest.mark.skipif(HAS_DEEPSPEED, reason='checks the missing-DeepSpeed error')
def test_train_names_missing_deepspeed(train_tool, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    args = train_tool.parse_args([ZERO2, '--launcher', 'pytorch'])
    with pytest.raises(ImportError, match='pip install deepspeed'):
        train_tool.merge_args(Config.fromfile(ZERO2), args)


@pytest.mark.skipif(not HAS_DEEPSPEED, reason='needs DeepSpeed')
def test_train_refuses_amp_with_deepspeed(train_tool, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    args = train_tool.parse_args([ZERO2, '--launcher', 'pytorch', '--amp'])
    with pytest.raises(ValueError, match='--amp does not apply'):
        train_tool.merge_args(Config.fromfile(ZERO2), args)
