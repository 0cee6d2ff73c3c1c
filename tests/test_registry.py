"""The registries are reachable from every scope users build from."""
import importlib

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

import mmivnext.registry as registry_module


def _registries():
    return {
        name: value
        for name, value in vars(registry_module).items()
        if isinstance(value, Registry) and value.scope == 'mmivnext'
    }


def test_every_registry_is_a_scoped_child_of_mmengine_root():
    import mmengine.registry as root
    registries = _registries()
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS',
                 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'RUNNERS', 'LOOPS'):
        assert name in registries, name
    for name, registry in registries.items():
        assert registry.parent is getattr(root, name), name
        assert registry.parent._children['mmivnext'] is registry, name


@pytest.mark.parametrize(
    'location',
    sorted({loc for r in _registries().values() for loc in r._locations}))
def test_every_location_imports(location):
    importlib.import_module(location)


def test_mmivnext_scope_reaches_mmengine_and_scoped_mmaction():
    from mmivnext.registry import LOOPS, MODELS, TRANSFORMS
    assert LOOPS.get('EpochBasedTrainLoop').__module__.startswith('mmengine')
    assert TRANSFORMS.get('mmaction.DecordInit').__module__.startswith(
        'mmaction')
    assert MODELS.get('mmaction.Recognizer3D').__module__.startswith(
        'mmaction')


def test_scoped_name_builds_from_mmaction_and_root_registries():
    from mmaction.registry import MODELS as MMACTION_MODELS
    cfg = dict(
        type='mmivnext.VisionTransformer3D',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=28,
        num_frames=2)
    for registry in (MMACTION_MODELS, MMENGINE_MODELS):
        model = registry.build(cfg)
        assert type(model).__name__ == 'VisionTransformer3D'


def test_custom_imports_in_an_mmaction_config(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text(
        "default_scope = 'mmaction'\n"
        "custom_imports = dict(imports=['mmivnext.models'], "
        "allow_failed_imports=False)\n"
        "backbone = dict(type='mmivnext.VisionTransformer3D', "
        "arch=dict(embed_dims=32, num_layers=1, num_heads=2, "
        "feedforward_channels=64), img_size=28, num_frames=2)\n")
    cfg = Config.fromfile(str(path))
    from mmaction.registry import MODELS as MMACTION_MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MMACTION_MODELS.build(cfg.backbone)
    assert type(model).__module__.startswith('mmivnext.models')
