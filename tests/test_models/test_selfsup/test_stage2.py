"""InternVideoNextStage2: Stage-1 init, frozen teacher, multi-block losses."""
import copy
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmivnext.registry import MODELS
from mmivnext.testing import make_demo_models
from runner_helpers import use_demo_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO = osp.join(ROOT, 'configs', 'ivnext', 'demo')
STAGE1_DEMO = osp.join(DEMO, 'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')
STAGE2_DEMO = osp.join(DEMO,
                       'ivnext-stage2_vit-tiny-p14_1xb8-16x1x1-1e_demo-videos.py')


def _converter():
    path = osp.join(ROOT, 'tools', 'model_converters', 'stage1_to_stage2.py')
    spec = importlib.util.spec_from_file_location('stage1_to_stage2', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(copy.deepcopy(cfg))


@pytest.fixture(scope='module')
def stage1(tmp_path_factory):
    """A Stage-1 demo model (8 frames), its checkpoint and the Stage-2 init
    converted from it, with the demo's tiny teacher and predictor."""
    root = tmp_path_factory.mktemp('stage2')
    models = make_demo_models(str(root / 'demo_models'))
    cfg = Config.fromfile(STAGE1_DEMO)
    cfg.model.teacher.pretrained = models['teacher']
    cfg.model.predictor.pretrained = models['predictor']
    torch.manual_seed(0)
    model = build(cfg.model)
    with torch.no_grad():  # make the Stage-1 weights recognisable
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=20)),
               root / 'stage1.pth')
    _converter().main([str(root / 'stage1.pth'), str(root / 'init.pth')])
    return dict(root=root, models=models, model=model,
                init=str(root / 'init.pth'))


def stage2_cfg(stage1):
    cfg = Config.fromfile(STAGE2_DEMO)
    cfg.model.teacher.checkpoint = stage1['init']
    cfg.model.init_checkpoint = stage1['init']
    cfg.model.predictor.pretrained = stage1['models']['predictor']
    return cfg


def test_init_loads_the_8_frame_stage1_for_16_frame_clips(stage1):
    """As the authors' code: the Stage-1 tables (8 frames here) are kept and
    interpolated to the 16-frame clips at every forward."""
    cfg = stage2_cfg(stage1)
    model = build(cfg.model)
    model.init_weights()  # strict: missing/unexpected keys would raise
    s1 = stage1['model']
    for name, param in s1.backbone.named_parameters():
        torch.testing.assert_close(
            dict(model.backbone.named_parameters())[name], param, msg=name)
    assert model.backbone.pos_embed.shape[1] == 4 + 8 * 4 * 4
    s1_predictor = s1.predictor.state_dict()
    for name, value in model.predictor.state_dict().items():
        torch.testing.assert_close(value, s1_predictor[name], msg=name)
    # The teacher is the Stage-1 encoder too.
    x = torch.randn(2, 3, 16, 56, 56)
    with torch.no_grad():
        student = model.backbone(x)[:, 4:]
    torch.testing.assert_close(
        torch.nn.functional.normalize(student, dim=-1),
        model.teacher.targets(x))


def test_losses_per_mask_config(stage1):
    model = build(stage2_cfg(stage1).model)
    model.init_weights()
    losses = model.loss(torch.randn(2, 3, 16, 56, 56))
    assert set(losses) == {'loss_latent_0', 'loss_latent_1'}
    sum(losses.values()).backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert model.backbone.projector.cross_attn.proj.weight.grad is None


def test_semantic_masks_from_a_mask_teacher(stage1):
    cfg = stage2_cfg(stage1)
    cfg.model.masker = dict(type='SemanticMasker', mask_ratio=0.75)
    cfg.model.mask_teacher = dict(
        type='SigLIPTeacher', pretrained=stage1['models']['teacher'],
        layers=(-1, ), image_size=64)  # 4 x 4 patches of 16 px
    model = build(cfg.model)
    losses = model.loss(torch.randn(2, 3, 16, 56, 56))
    assert set(losses) == {'loss_latent'}
    assert not any(k.startswith('mask_teacher') for k in model.state_dict())


def test_missing_stage1_weights_are_refused(stage1, tmp_path):
    torch.save(dict(state_dict={'pixel_head.w': torch.zeros(1)}),
               tmp_path / 'bad.pth')
    cfg = stage2_cfg(stage1)
    cfg.model.teacher.checkpoint = stage1['init']
    cfg.model.init_checkpoint = str(tmp_path / 'bad.pth')
    model = build(cfg.model)
    with pytest.raises(KeyError, match='no backbone'):
        model.init_weights()


def test_runner_trains_and_keeps_the_teacher_bitwise(stage1, demo_videos,
                                                     tmp_path):
    from mmengine.runner import Runner
    cfg = stage2_cfg(stage1)
    cfg.work_dir = str(tmp_path)
    use_demo_data(cfg, demo_videos, num_workers=0)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    runner = Runner.from_cfg(cfg)
    teacher = runner.model.teacher
    before = {k: v.clone() for k, v in teacher_state(teacher).items()}
    student_before = runner.model.backbone.blocks[0].attn.qkv.weight.clone()
    runner.train()
    after = teacher_state(runner.model.teacher)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(student_before,
                           runner.model.backbone.blocks[0].attn.qkv.weight)
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu',
                            weights_only=True)
    teacher_keys = [k for k in checkpoint['state_dict']
                    if k.startswith('teacher')]
    assert teacher_keys == []


def teacher_state(teacher):
    """The frozen teacher's weights, wherever it keeps its encoder."""
    encoder = getattr(teacher, 'encoder', None) or getattr(
        teacher, 'backbone', None)
    return encoder.state_dict()


def test_train_step_reads_no_device_values(stage1):
    """On the meta device any host read of a tensor's value raises."""
    model = build(stage2_cfg(stage1).model)
    model.init_weights()
    model.to('meta')
    losses = model.loss(torch.randn(2, 3, 16, 56, 56, device='meta'))
    sum(losses.values()).backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None
