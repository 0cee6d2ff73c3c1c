"""The weight-init convention (mmivnext.models.utils.init): default init at
construction, ``init_weights()`` applies ``init_cfg`` only."""
import pytest
import torch
from torch import nn

from mmivnext.registry import MODELS
from mmivnext.testing import tiny_stage1


def _state(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same(before: dict, module: nn.Module) -> None:
    after = module.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert not changed, f'init_weights() changed {changed}'


@pytest.fixture(scope='module')
def stage1_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp('init')
    return tiny_stage1.tiny_model_cfg(
        tiny_stage1.save_tiny_stage1_checkpoints(str(root)))


def test_init_weights_without_init_cfg_changes_nothing(stage1_cfg):
    torch.manual_seed(0)
    model = tiny_stage1.build(stage1_cfg)
    before = _state(model)
    model.init_weights()  # what the runner calls before training
    _assert_same(before, model)


def test_construction_draws_the_default_init(stage1_cfg):
    torch.manual_seed(0)
    model = tiny_stage1.build(stage1_cfg)
    # MAR's zero output layer; trunc-normal(0.02) encoder and alignment
    # linears with zero biases (torch's own default would be
    # kaiming-uniform with std 1/sqrt(3 fan_in) ~ 0.07 and non-zero biases).
    assert model.pixel_head.final_layer.linear.weight.abs().max() == 0
    for linear in (model.backbone.blocks[0].mlp.fc1,
                   model.align_head.projs[0][0]):
        assert linear.weight.std().item() == pytest.approx(0.02, rel=0.15)
        assert linear.bias.abs().max() == 0


@pytest.mark.parametrize('cfg', [
    dict(type='TokenAlignmentHead', in_dims=16, out_dims=8,
         grid_size=(1, 2, 2), num_layers=1),
    dict(type='LatentPredictionHead', in_dims=16, out_dims=8),
    dict(type='LinearPixelHead', target_dims=12, cond_dims=16),
])
def test_init_cfg_override_applies(cfg):
    head = MODELS.build(dict(
        cfg, init_cfg=dict(type='Constant', layer='Linear', val=0.5,
                           bias=0.)))
    head.init_weights()
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert linears and all(bool((m.weight == 0.5).all()) for m in linears)


def test_loaded_weights_survive_init_weights(stage1_cfg):
    torch.manual_seed(0)
    source = tiny_stage1.build(stage1_cfg)
    torch.manual_seed(1)
    model = tiny_stage1.build(stage1_cfg)
    model.load_state_dict(source.state_dict())
    model.init_weights()
    _assert_same(_state(source), model)
