"""FrozenVideoTeacher on tiny encoders (width 32, 2 layers, 28 px, 2-4 frames)
loaded from fake Stage-1 checkpoints written to tmp dirs."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner.checkpoint import get_state_dict
from safetensors.torch import save_file
from torch.testing import assert_close

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.teachers import BaseFrozenTeacher, FrozenVideoTeacher
from mmivnext.models.utils import resize_pos_embed_3d
from mmivnext.registry import MODELS

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def backbone_cfg(num_frames=4, **kwargs):
    return dict(type='VisionTransformer3D', arch=dict(TINY), img_size=28,
                num_frames=num_frames, **kwargs)


def make_encoder(num_frames=4, seed=0, **kwargs):
    torch.manual_seed(seed)
    cfg = backbone_cfg(num_frames, **kwargs)
    cfg.pop('type')
    encoder = VisionTransformer3D(**cfg)
    encoder.init_weights()
    return encoder.eval()


def save_stage1(path, encoder, drop=(), extra=None):
    """A fake Stage-1 runner checkpoint of ``encoder``: its weights under
    ``backbone.``, other parts' weights, optimizer and meta."""
    state_dict = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    state_dict.update({'predictor.layers.0.weight': torch.ones(3, 3),
                       'pixel_head.fc.weight': torch.ones(2),
                       'align_head.proj.weight': torch.ones(2)})
    for key in drop:
        del state_dict[key]
    state_dict.update(extra or {})
    torch.save(dict(meta=dict(epoch=1, iter=10), state_dict=state_dict,
                    message_hub=dict(), optimizer=dict(state={}),
                    param_schedulers=[]), path)
    return str(path)


def clip(batch=2, frames=4, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, frames, 28, 28, generator=gen)


@pytest.fixture(scope='module')
def source():
    return make_encoder()


@pytest.fixture(scope='module')
def ckpt(source, tmp_path_factory):
    return save_stage1(tmp_path_factory.mktemp('stage1') / 'epoch_1.pth',
                       source)


class Parent(BaseModule):
    """A stand-in for the Stage-2 algorithm: a student encoder + teacher."""

    def __init__(self, ckpt, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = make_encoder(seed=5)
        self.teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)


# ----------------------------------------------------------------- loading
def test_loads_strictly_and_matches_source(source, ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)
    for key, value in source.state_dict().items():
        assert torch.equal(teacher.encoder.state_dict()[key], value), key
    inputs = clip()
    out = teacher(inputs)
    assert out.shape == (2, 16, 32) and out.dtype == torch.float32
    expected = source(inputs)[:, source.num_cls_tokens:]  # cls dropped
    assert_close(out, F.normalize(expected, dim=-1))
    assert_close(out.norm(dim=-1), torch.ones(2, 16))
    assert teacher.embed_dims == 32 and teacher.grid_size == (4, 2, 2)


def test_unnormalized_output(source, ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt, normalize=False)
    inputs = clip()
    assert_close(teacher(inputs), source(inputs)[:, 4:])


def test_missing_key_is_refused(source, tmp_path):
    path = save_stage1(tmp_path / 'missing.pth', source,
                       drop=['backbone.blocks.1.mlp.fc2.weight'])
    with pytest.raises(ValueError,
                       match=r'missing.pth.*missing keys \[blocks.1.mlp.fc2'
                       r'.weight\]'):
        FrozenVideoTeacher(backbone_cfg(), path)


def test_unexpected_key_is_refused(source, tmp_path):
    path = save_stage1(tmp_path / 'extra.pth', source,
                       extra={'backbone.projector.w': torch.ones(1)})
    with pytest.raises(ValueError, match=r'unexpected keys \[projector.w\]'):
        FrozenVideoTeacher(backbone_cfg(), path)


def test_other_width_is_refused(ckpt):
    cfg = backbone_cfg()
    cfg['arch'] = dict(TINY, embed_dims=64)
    with pytest.raises(ValueError, match='(?s)epoch_1.pth.*size mismatch'):
        FrozenVideoTeacher(cfg, ckpt)


def test_wrong_prefix_names_file_and_prefix(ckpt):
    with pytest.raises(ValueError, match=r"epoch_1.pth has no weights with "
                       r"the prefix 'student.'.*'backbone.'"):
        FrozenVideoTeacher(backbone_cfg(), ckpt, prefix='student.')
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        FrozenVideoTeacher(backbone_cfg(), '/nowhere.pth')


def test_fewer_frames_checkpoint_loads_resized(tmp_path):
    """The 16 -> 32 frames of Stage 1 -> 2, at 2 -> 4: strict, with the
    position embedding resized by the encoder's pre-hook."""
    source = make_encoder(num_frames=2)
    path = save_stage1(tmp_path / 'two_frames.pth', source)
    teacher = FrozenVideoTeacher(backbone_cfg(num_frames=4), path)
    expected = resize_pos_embed_3d(source.pos_embed, (2, 2, 2), (4, 2, 2),
                                   num_extra_tokens=4)
    assert_close(teacher.encoder.pos_embed, expected)
    assert teacher.encoder.pos_embed_grid.tolist() == [4, 2, 2]
    # A strict load of the same weights into a fresh 4-frame encoder reports
    # nothing missing or unexpected.
    weights = {k[len('backbone.'):]: v for k, v in torch.load(
        path, weights_only=True)['state_dict'].items()
               if k.startswith('backbone.')}
    result = make_encoder(num_frames=4).load_state_dict(weights, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert teacher(clip()).shape == (2, 16, 32)


def test_loads_exported_safetensors(source, tmp_path):
    path = str(tmp_path / 'encoder.safetensors')
    save_file(source.state_dict(), path)
    teacher = FrozenVideoTeacher(backbone_cfg(), path, prefix='')
    inputs = clip()
    assert_close(teacher(inputs), F.normalize(source(inputs)[:, 4:], dim=-1))


def test_backbone_options(ckpt):
    cfg = backbone_cfg()
    teacher = FrozenVideoTeacher(cfg, ckpt)
    assert teacher.encoder.out_type == 'raw'
    assert teacher.encoder.out_indices == (1, )
    assert cfg == backbone_cfg()  # the caller's dict is not changed
    with pytest.raises(ValueError, match="out_type='raw'"):
        FrozenVideoTeacher(backbone_cfg(out_type='cls_token'), ckpt)
    with pytest.raises(ValueError, match='out_indices=-1'):
        FrozenVideoTeacher(backbone_cfg(out_indices=(0, 1)), ckpt)
    with pytest.raises(ValueError, match='init_cfg'):
        FrozenVideoTeacher(
            backbone_cfg(init_cfg=dict(type='Pretrained', checkpoint=ckpt)),
            ckpt)


def test_build_from_registry(ckpt):
    teacher = MODELS.build(dict(type='FrozenVideoTeacher',
                                backbone=backbone_cfg(), checkpoint=ckpt))
    assert isinstance(teacher, FrozenVideoTeacher)
    assert isinstance(teacher, BaseFrozenTeacher)
    assert 'epoch_1.pth' in repr(teacher)


# ------------------------------------------------------------------ frozen
def test_frozen_no_grad_and_eval(ckpt):
    parent = Parent(ckpt)
    teacher = parent.teacher
    assert list(teacher.parameters()) == []
    assert all(not p.requires_grad for p in teacher.encoder.parameters())
    parent.train()
    assert parent.training and parent.backbone.training
    assert not teacher.training
    assert not any(m.training for m in teacher.encoder.modules())
    out = teacher(clip().requires_grad_())
    assert not out.requires_grad


def test_absent_from_parent_state_dict(ckpt):
    parent = Parent(ckpt)
    for state in (parent.state_dict(), get_state_dict(parent)):
        assert state and all(k.startswith('backbone.') for k in state)
    other = Parent(ckpt)
    other.load_state_dict(parent.state_dict(), strict=True)


@pytest.mark.parametrize('paramwise_cfg', [None, dict(norm_decay_mult=0.)])
def test_not_in_optimizer(ckpt, paramwise_cfg):
    parent = Parent(ckpt)
    optim_wrapper = DefaultOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        paramwise_cfg)(parent)
    in_optimizer = {id(p) for group in optim_wrapper.optimizer.param_groups
                    for p in group['params']}
    assert in_optimizer == {id(p) for p in parent.backbone.parameters()}


def test_parent_init_cfg_and_moves(ckpt):
    parent = Parent(ckpt, init_cfg=dict(type='Normal', layer='Linear',
                                        std=10))
    before = copy.deepcopy(parent.teacher.encoder.state_dict())
    parent.init_weights()
    assert parent.backbone.blocks[0].mlp.fc1.weight.std() > 2
    for key, value in parent.teacher.encoder.state_dict().items():
        assert torch.equal(value, before[key]), key
    parent.double()
    assert parent.teacher.encoder.pos_embed.dtype == torch.float64
    assert parent.teacher(clip().double()).dtype == torch.float32


def test_weights_unchanged_by_training(ckpt):
    """Training the parent's student against the teacher (AdamW with weight
    decay) leaves every teacher weight bitwise unchanged."""
    parent = Parent(ckpt).train()
    before = copy.deepcopy(parent.teacher.encoder.state_dict())
    student_before = parent.backbone.blocks[0].attn.qkv.weight.clone()
    optimizer = torch.optim.AdamW(parent.parameters(), lr=1e-2,
                                  weight_decay=0.5)
    for step in range(3):
        inputs = clip(seed=step)
        pred = F.normalize(parent.backbone(inputs)[:, 4:], dim=-1)
        loss = (2 - 2 * (pred * parent.teacher(inputs)).sum(-1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(parent.backbone.blocks[0].attn.qkv.weight,
                           student_before)
    for key, value in parent.teacher.encoder.state_dict().items():
        assert torch.equal(value, before[key]), key


# --------------------------------------------------------------------- EMA
def test_ema_update_math(ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)
    student = make_encoder(seed=7)
    before = copy.deepcopy(dict(teacher.encoder.named_parameters()))
    buffers = copy.deepcopy(dict(teacher.encoder.named_buffers()))
    teacher.ema_update(student, 0.9)
    for name, value in teacher.encoder.named_parameters():
        expected = 0.9 * before[name] + 0.1 * dict(
            student.named_parameters())[name]
        assert_close(value, expected, rtol=1e-6, atol=1e-7)
        assert not value.requires_grad
    for name, value in teacher.encoder.named_buffers():
        assert torch.equal(value, buffers[name])
    teacher.ema_update(student, 1.)
    assert_close(teacher.encoder.pos_embed,
                 0.9 * before['pos_embed'] + 0.1 * student.pos_embed)
    teacher.ema_update(student, 0.)
    for name, value in student.named_parameters():
        assert torch.equal(dict(teacher.encoder.named_parameters())[name],
                           value)


def test_ema_update_refuses_other_students(ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)
    deeper = VisionTransformer3D(arch=dict(TINY, num_layers=3), img_size=28,
                                 num_frames=4)
    with pytest.raises(ValueError, match=r'only in the student \[blocks.2'):
        teacher.ema_update(deeper, 0.9)
    wider = VisionTransformer3D(arch=dict(TINY, feedforward_channels=32),
                                img_size=28, num_frames=4)
    with pytest.raises(ValueError, match='other shapes.*mlp.fc1.weight'):
        teacher.ema_update(wider, 0.9)
    with pytest.raises(ValueError, match='momentum'):
        teacher.ema_update(make_encoder(), 1.5)


def test_encoder_state_dict_round_trip(ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)
    teacher.ema_update(make_encoder(seed=7), 0.5)
    saved = teacher.encoder_state_dict()
    assert all(v.device.type == 'cpu' for v in saved.values())
    other = FrozenVideoTeacher(backbone_cfg(), ckpt)
    other.load_encoder_state_dict(saved)
    for key, value in other.encoder.state_dict().items():
        assert torch.equal(value, saved[key]), key
    del saved['norm.weight']
    with pytest.raises(ValueError, match=r'missing keys \[norm.weight\]'):
        other.load_encoder_state_dict(saved)


# ------------------------------------------------------------------- dtype
def test_bf16_teacher_is_close_to_fp32(source, ckpt):
    teacher = FrozenVideoTeacher(backbone_cfg(), ckpt)
    bf16 = FrozenVideoTeacher(backbone_cfg(), ckpt, dtype='bfloat16')
    assert all(p.dtype == torch.bfloat16 for p in bf16.encoder.parameters())
    inputs = clip()
    out = bf16(inputs)
    assert out.dtype == torch.float32
    cos = F.cosine_similarity(out, teacher(inputs), dim=-1)
    assert cos.min() > 0.99
    with pytest.raises(ValueError, match='float32 teacher'):
        bf16.ema_update(source, 0.9998)
    with pytest.raises(ValueError, match='dtype must be one of'):
        FrozenVideoTeacher(backbone_cfg(), ckpt, dtype='fp8')
