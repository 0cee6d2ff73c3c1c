import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (must precede mmaction.models)
from mmivnext.engine.optimizers import LayerDecayOptimWrapperConstructor
from mmivnext.engine.optimizers import \
    layer_decay_optim_wrapper_constructor as constructor_module
from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.registry import OPTIM_WRAPPER_CONSTRUCTORS

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
LR, WD = 1e-3, 0.05


def _backbone(**kwargs):
    return dict(type='mmivnext.VisionTransformer3D', arch=TINY, img_size=28,
                num_frames=2, out_type='featmap', **kwargs)


def _recognizer(**backbone_kwargs):
    from mmaction.registry import MODELS as MMACTION_MODELS
    from mmengine.registry import DefaultScope
    cfg = dict(type='mmaction.Recognizer3D',
               backbone=_backbone(**backbone_kwargs),
               cls_head=dict(type='mmaction.I3DHead', num_classes=3,
                             in_channels=32))
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MMACTION_MODELS.build(cfg)


class _BareModel(nn.Module):
    """A bare module with ``.backbone`` and ``.head`` (and a mask token)."""

    def __init__(self):
        super().__init__()
        self.backbone = VisionTransformer3D(
            arch=TINY, img_size=28, num_frames=2, out_type='featmap')
        self.mask_token = nn.Parameter(torch.zeros(1, 32))  # 2-D
        self.head = nn.Linear(32, 3)


def _build(model, paramwise_cfg=None, **optimizer_kwargs):
    cfg = dict(constructor='mmivnext.LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=LR, weight_decay=WD,
                              **optimizer_kwargs))
    if paramwise_cfg is not None:
        cfg['paramwise_cfg'] = paramwise_cfg
    return build_optim_wrapper(model, cfg)


def _by_name(optim_wrapper):
    """``{param name: param group}`` (each name must be in one group)."""
    groups = {}
    for group in optim_wrapper.optimizer.param_groups:
        assert len(group['param_names']) == len(group['params'])
        for name in group['param_names']:
            assert name not in groups, name
            groups[name] = group
    return groups


def _expected_scale(name, rate, num_layers=2):
    """mmpretrain's convention, written out by hand for TINY."""
    if name.startswith(('backbone.patch_embed', 'backbone.cls_token',
                        'backbone.pos_embed')):
        return rate**(num_layers + 1)
    if name.startswith('backbone.blocks.'):
        return rate**(num_layers - int(name.split('.')[2]))
    return 1.0  # final norm, head


def test_registered_and_exported():
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'LayerDecayOptimWrapperConstructor') is \
        LayerDecayOptimWrapperConstructor


def test_lr_scales_per_layer_in_recognizer():
    model = _recognizer()
    groups = _by_name(_build(model, dict(layer_decay_rate=0.75)))
    names = [n for n, _ in model.named_parameters()]
    assert sorted(groups) == sorted(names)
    for name in names:
        assert groups[name]['lr'] == pytest.approx(
            LR * _expected_scale(name, 0.75)), name
    assert groups['backbone.pos_embed']['lr'] == pytest.approx(LR * 0.75**3)
    assert groups['backbone.blocks.0.attn.qkv.weight']['lr'] == \
        pytest.approx(LR * 0.75**2)
    assert groups['backbone.blocks.1.mlp.fc1.weight']['lr'] == \
        pytest.approx(LR * 0.75)
    assert groups['backbone.norm.weight']['lr'] == pytest.approx(LR)
    assert groups['cls_head.fc_cls.weight']['lr'] == pytest.approx(LR)
    # One group per (depth, decay or not): depths 0..3, each with both.
    keys = [(g['layer_depth'], g['weight_decay'])
            for g in _build(model, dict(layer_decay_rate=0.75))
            .optimizer.param_groups]
    assert keys == [(d, wd) for d in range(4) for wd in (WD, 0.)]


def test_weight_decay_rules():
    model = _BareModel()
    groups = _by_name(_build(model, dict(layer_decay_rate=0.75)))
    no_decay = {'backbone.pos_embed', 'backbone.cls_token', 'mask_token'}
    for name, param in model.named_parameters():
        expected = 0. if param.ndim <= 1 or name in no_decay else WD
        assert groups[name]['weight_decay'] == expected, name
    assert groups['backbone.blocks.0.attn.qkv.weight']['weight_decay'] == WD
    assert groups['head.weight']['weight_decay'] == WD
    assert groups['head.bias']['weight_decay'] == 0.
    assert groups['mask_token']['weight_decay'] == 0.
    # Outside the backbone: scale 1.
    assert groups['mask_token']['lr'] == pytest.approx(LR)
    assert groups['head.weight']['lr'] == pytest.approx(LR)

    groups = _by_name(_build(model, dict(no_decay_names=['head.weight'])))
    assert groups['head.weight']['weight_decay'] == 0.
    # Matched after a dot only: 'weight' would not match 'head.weight'.
    groups = _by_name(_build(model, dict(no_decay_names=['ead.weight'])))
    assert groups['head.weight']['weight_decay'] == WD


def test_frozen_backbone_excluded_and_logged(monkeypatch):
    messages = []
    monkeypatch.setattr(constructor_module, 'print_log',
                        lambda msg, logger=None: messages.append(msg))
    model = _recognizer(frozen_stages=TINY['num_layers'])  # all frozen
    optim_wrapper = _build(model, dict(layer_decay_rate=0.75))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {'cls_head.fc_cls.weight', 'cls_head.fc_cls.bias'}
    assert set(_by_name(optim_wrapper)) == trained
    in_optimizer = {id(p) for g in optim_wrapper.optimizer.param_groups
                    for p in g['params']}
    assert all(id(p) not in in_optimizer
               for p in model.backbone.parameters())

    num_frozen = sum(p.numel() for p in model.backbone.parameters())
    assert len(messages) == 1
    assert messages[0].startswith(
        f'Optimizing {(32 * 3 + 3) / 1e6:.4g}M parameters in 2 groups; '
        f'{num_frozen / 1e6:.4g}M frozen parameters are not optimized.')


def test_partly_frozen_backbone():
    model = _recognizer(frozen_stages=1)  # embeddings and blocks.0 frozen
    groups = _by_name(_build(model, dict(layer_decay_rate=0.75)))
    assert sorted(groups) == sorted(
        n for n, p in model.named_parameters() if p.requires_grad)
    assert not any(n.startswith(('backbone.blocks.0.', 'backbone.patch_embed'))
                   or n == 'backbone.pos_embed' for n in groups)
    assert groups['backbone.blocks.1.attn.qkv.weight']['lr'] == \
        pytest.approx(LR * 0.75)


def test_no_decay_equals_plain_adamw():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    reference = copy.deepcopy(model)
    optim_wrapper = _build(model)  # layer_decay_rate defaults to 1.0
    assert [g['lr'] for g in optim_wrapper.optimizer.param_groups] == [LR] * 2
    plain = torch.optim.AdamW(
        [dict(params=[p for p in reference.parameters() if p.ndim > 1]),
         dict(params=[p for p in reference.parameters() if p.ndim == 1],
              weight_decay=0.)], lr=LR, weight_decay=WD)
    x = torch.randn(4, 8)
    for net, optimizer in ((model, optim_wrapper), (reference, plain)):
        for _ in range(3):
            optimizer.zero_grad()
            net(x).square().mean().backward()
            optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        assert_close(p, q)


def test_model_with_own_get_layer_depth_and_resume():
    model = VisionTransformer3D(arch=TINY, img_size=28, num_frames=2,
                                out_type='featmap')
    optim_wrapper = _build(model, dict(layer_decay_rate=0.5))
    groups = _by_name(optim_wrapper)
    assert groups['pos_embed']['lr'] == pytest.approx(LR * 0.5**3)
    assert groups['blocks.1.attn.qkv.weight']['lr'] == pytest.approx(LR * 0.5)
    assert groups['norm.weight']['lr'] == pytest.approx(LR)
    # The extra group keys survive a state-dict round trip (resume).
    model(torch.randn(1, 3, 2, 28, 28)).square().mean().backward()
    optim_wrapper.step()
    other = _build(model, dict(layer_decay_rate=0.5))
    other.load_state_dict(optim_wrapper.state_dict())
    assert [g['lr'] for g in other.optimizer.param_groups] == \
        [g['lr'] for g in optim_wrapper.optimizer.param_groups]


def test_caller_config_not_mutated():
    paramwise_cfg = dict(layer_decay_rate=0.75)
    _build(_BareModel(), paramwise_cfg)
    assert paramwise_cfg == dict(layer_decay_rate=0.75)


@pytest.mark.parametrize('paramwise_cfg, error, match', [
    (dict(custom_keys={'head': dict(lr_mult=10.)}), ValueError, 'custom_keys'),
    (dict(bias_decay_mult=0.), ValueError, 'bias_decay_mult'),
    (dict(layer_decay_rate=0.), ValueError, 'layer_decay_rate'),
    (dict(layer_decay_rate=1.5), ValueError, 'layer_decay_rate'),
    (dict(layer_decay_rate=True), ValueError, 'layer_decay_rate'),
    (dict(no_decay_names='pos_embed'), TypeError, 'no_decay_names'),
    (dict(no_decay_names=['']), TypeError, 'no_decay_names'),
])
def test_bad_paramwise_cfg(paramwise_cfg, error, match):
    with pytest.raises(error, match=match):
        _build(_BareModel(), paramwise_cfg)


def test_bad_models_and_optimizer():
    plain = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(NotImplementedError, match='get_layer_depth'):
        _build(plain, dict(layer_decay_rate=0.75))
    for param in plain.parameters():
        param.requires_grad_(False)
    with pytest.raises(ValueError, match='requires_grad=True'):
        _build(plain)
    with pytest.raises(ValueError, match='lr'):
        LayerDecayOptimWrapperConstructor(
            dict(optimizer=dict(type='AdamW', weight_decay=WD)))


def test_registered_name_builds_in_a_fresh_process():
    """The registry's ``locations`` import the constructor on demand."""
    import subprocess
    import sys
    code = (
        'import sys, torch\n'
        'from mmengine.optim import build_optim_wrapper\n'
        'wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), dict(\n'
        "    constructor='mmivnext.LayerDecayOptimWrapperConstructor',\n"
        "    optimizer=dict(type='AdamW', lr=0.1, weight_decay=0.05)))\n"
        "print([g['weight_decay'] for g in wrapper.optimizer.param_groups])\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip().endswith('[0.05, 0.0]')
