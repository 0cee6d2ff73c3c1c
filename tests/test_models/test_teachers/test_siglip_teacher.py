"""SigLIPTeacher on tiny random SigLIP / SigLIP 2 checkpoints written to tmp dirs
(width 32, 5 layers, 2 heads, patch 16, 32 px -> a 2 x 2 grid)."""
import json

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner.checkpoint import get_state_dict, load_state_dict
from torch import nn
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (upstream fixes before transformers)
from mmivnext.models.data_preprocessors.video_pretrain_data_preprocessor \
    import IMAGENET_MEAN, IMAGENET_STD
from mmivnext.models.teachers import SigLIPTeacher, SigLIPTeacherOutput
from mmivnext.registry import MODELS
from transformers import (CLIPVisionConfig, CLIPVisionModel, SiglipConfig,
                          SiglipImageProcessor, SiglipModel,
                          Siglip2VisionConfig, Siglip2VisionModel,
                          SiglipVisionConfig, SiglipVisionModel)
from transformers.models.siglip2.image_processing_siglip2 import \
    convert_image_to_patches

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=5,
            num_attention_heads=2, patch_size=16)
#: Statistics of the full checkpoint's preprocessor config (0-1 scale).
FULL_MEAN, FULL_STD = (0.4, 0.45, 0.5), (0.2, 0.25, 0.3)


def _save(model, path):
    torch.manual_seed(0)
    model.save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Folders of tiny checkpoints: ``vision`` (SiglipVisionModel, no
    preprocessor config), ``full`` (SiglipModel with a text tower and a
    preprocessor config, like the fixed-resolution SigLIP 2 hub checkpoints),
    ``naflex`` (Siglip2VisionModel), ``headless`` (no MAP head)."""
    root = tmp_path_factory.mktemp('siglip')
    torch.manual_seed(0)
    vision_cfg = SiglipVisionConfig(image_size=32, **TINY)
    dirs = dict(vision=_save(SiglipVisionModel(vision_cfg), root / 'vision'))
    full = SiglipModel(SiglipConfig(
        vision_config=vision_cfg.to_dict(),
        text_config=dict(hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=64)))
    dirs['full'] = _save(full, root / 'full')
    SiglipImageProcessor(size=dict(height=32, width=32), resample=2,
                         image_mean=FULL_MEAN,
                         image_std=FULL_STD).save_pretrained(dirs['full'])
    dirs['naflex'] = _save(
        Siglip2VisionModel(Siglip2VisionConfig(num_patches=4, **TINY)),
        root / 'naflex')
    dirs['headless'] = _save(
        SiglipVisionModel(SiglipVisionConfig(
            image_size=32, vision_use_head=False, **TINY)), root / 'headless')
    return dirs


@pytest.fixture(scope='module')
def teacher(ckpts):
    return SigLIPTeacher(ckpts['vision'])


def clip(batch=2, frames=3, size=48, seed=0):
    """``(normalised clip [B, 3, T, S, S], 0-255 frames [B, 3, T, S, S])``."""
    gen = torch.Generator().manual_seed(seed)
    frames255 = torch.rand(batch, 3, frames, size, size, generator=gen) * 255
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (frames255 - mean) / std, frames255


class Parent(BaseModule):
    """A stand-in for the Stage-1 algorithm: one trainable layer + teacher."""

    def __init__(self, pretrained, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.student = nn.Linear(4, 4)
        self.teacher = SigLIPTeacher(pretrained)


# --------------------------------------------------------------- outputs
def test_output_shapes_and_norms(teacher):
    out = teacher(clip()[0])
    assert isinstance(out, SigLIPTeacherOutput)
    assert out.grid_size == (3, 2, 2) and teacher.token_grid == (2, 2)
    assert teacher.layers == (0, 1, 2, 3, 4, 5)  # 6 states: embeddings + 5
    assert len(out.hidden_states) == 6
    for hidden in out.hidden_states:
        assert hidden.shape == (2, 3, 4, 32) and hidden.dtype == torch.float32
        assert_close(hidden.norm(dim=-1), torch.ones(2, 3, 4))
    assert out.pooled.shape == (2, 3, 32)
    assert out.attention.shape == (2, 3, 4)
    assert_close(out.attention.sum(-1), torch.ones(2, 3))
    assert teacher.embed_dims == 32


def test_features_match_transformers_per_frame(ckpts):
    """Layer indices follow transformers' hidden states; row (b, t) is frame t
    of sample b."""
    teacher = SigLIPTeacher(ckpts['vision'], layers=(0, -3, -1))
    assert teacher.layers == (0, 3, 5)
    # float64 inside (outputs are float32): 6 frames and 2 frames at a time
    # run different kernels, whose fp32 rounding would differ.
    teacher.double()
    inputs = clip()[0].double()
    out = teacher(inputs)
    for t in range(3):
        images = teacher.preprocess(inputs[:, :, t:t + 1])  # [B, C, S, S]
        ref = teacher.vision_model(images, output_hidden_states=True)
        for hidden, layer in zip(out.hidden_states, (0, 3, 5)):
            assert_close(hidden[:, t],
                         F.normalize(ref.hidden_states[layer], dim=-1).float())
        assert_close(out.pooled[:, t], ref.pooler_output.float())


def test_attention_matches_manual_map_head(teacher):
    inputs = clip()[0]
    out = teacher(inputs)
    model = teacher.vision_model
    images = teacher.preprocess(inputs)
    tokens = model(images).last_hidden_state  # [B * T, N, C], post-LN
    mha = model.head.attention
    w_q, w_k, _ = mha.in_proj_weight.chunk(3)
    b_q, b_k, _ = mha.in_proj_bias.chunk(3)
    heads, dims = mha.num_heads, 32 // mha.num_heads
    q = (model.head.probe @ w_q.T + b_q).view(1, heads, dims)  # [1, h, d]
    k = (tokens @ w_k.T + b_k).view(6, 4, heads, dims)  # [BT, N, h, d]
    scores = torch.einsum('qhd,bnhd->bhn', q, k) / dims**0.5
    expected = scores.softmax(-1).mean(1).view(2, 3, 4)
    assert_close(out.attention, expected)


def test_requested_outputs_only(teacher):
    out = teacher(clip()[0], return_pooled=False, return_attention=False)
    assert out.pooled is None and out.attention is None
    assert len(out.hidden_states) == 6


def test_keeps_only_the_returned_hidden_states(ckpts):
    """During the forward, of the 5 layers' outputs only the states of
    ``layers`` (1 and 3: the outputs of layers 0 and 2) and the last output
    stay alive (transformers' ``output_hidden_states`` keeps all 5); without
    pooled output and attention, no layer after the last needed state runs;
    the states are transformers' (test above)."""
    import weakref
    teacher = SigLIPTeacher(ckpts['vision'], layers=(3, 1))
    model = teacher.vision_model
    outputs, ran, alive = [], [], []

    def record(i):
        def hook(module, args, out):
            ran.append(i)
            outputs.append(weakref.ref(out))
        return hook

    hooks = [layer.register_forward_hook(record(i))
             for i, layer in enumerate(model.encoder.layers)]
    hooks.append(model.post_layernorm.register_forward_pre_hook(
        lambda module, args: alive.append(
            sum(ref() is not None for ref in outputs))))
    inputs = clip()[0]
    try:
        out = teacher(inputs)
        assert ran == [0, 1, 2, 3, 4] and alive == [3]
        ran.clear()
        targets = teacher.targets(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == [0, 1, 2]  # state 3 is the input of layer 3
    assert_close(targets, out.hidden_states[1].flatten(1, 2), rtol=0, atol=0)


# --------------------------------------------------------------- preprocess
@pytest.mark.parametrize('name,size', [('vision', 48), ('full', 48),
                                       ('vision', 32), ('full', 20)])
def test_preprocess_matches_siglip_image_processor(ckpts, name, size):
    """Un-normalise, resize with antialias and re-normalise = the checkpoint's
    own image processor on float frames (bicubic and 0.5 statistics without
    a preprocessor config; ``full``'s bilinear and statistics with one)."""
    teacher = SigLIPTeacher(ckpts[name], antialias=True)
    inputs, frames255 = clip(size=size)
    if name == 'full':
        processor = SiglipImageProcessor.from_pretrained(ckpts['full'])
        assert teacher.interpolation == 'bilinear'
    else:
        processor = SiglipImageProcessor(size=dict(height=32, width=32))
        assert teacher.interpolation == 'bicubic'
    images = [frames255[b, :, t] for b in range(2) for t in range(3)]
    expected = processor(images=images, return_tensors='pt').pixel_values
    assert_close(teacher.preprocess(inputs), expected, atol=1e-4, rtol=1e-4)


def test_default_resize_is_the_authors_plain_bicubic(ckpts):
    """By default frames are resized as the authors resize the clip
    (``engines/engine_for_stage1.py:72-78``): a plain bicubic
    ``F.interpolate`` without antialiasing, here 28 -> 32 px (the 224 ->
    256 px upsampling ratio), which an antialiased resize does not give."""
    teacher = SigLIPTeacher(ckpts['vision'])
    assert teacher.interpolation == 'bicubic' and not teacher.antialias
    inputs, frames255 = clip(size=28)
    frames = frames255.transpose(1, 2).flatten(0, 1).double()  # [6, 3, 28, 28]
    mean, std = teacher.teacher_mean.double(), teacher.teacher_std.double()

    def reference(antialias):
        resized = F.interpolate(frames, size=(32, 32), mode='bicubic',
                                align_corners=False, antialias=antialias)
        return ((resized - mean) / std).float()

    # float32 inside the teacher: a few dozen ulps of 255 (8 ulps from
    # un-normalising, 16 bicubic taps), over SigLIP's std of 127.5.
    atol = 64 * torch.finfo(torch.float32).eps * 255 / 127.5
    images = teacher.preprocess(inputs)
    assert_close(images, reference(False), atol=atol, rtol=0)
    assert float((images - reference(True)).abs().max()) > 1000 * atol
    antialiased = SigLIPTeacher(ckpts['vision'], antialias=True)
    assert_close(antialiased.preprocess(inputs), reference(True), atol=atol,
                 rtol=0)
    assert 'antialias=False' in repr(teacher)


def test_input_statistics_and_explicit_interpolation(ckpts):
    """Clips normalised with other statistics (0-1 frames scaled to 0-255)."""
    inputs, frames255 = clip()
    mean, std = (100.0, 110.0, 120.0), (50.0, 60.0, 70.0)
    renorm = (frames255 - torch.tensor(mean).view(1, 3, 1, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1, 1)
    teacher = SigLIPTeacher(ckpts['vision'], input_mean=mean, input_std=std,
                            interpolation='bilinear')
    default = SigLIPTeacher(ckpts['vision'], interpolation='bilinear')
    assert_close(teacher.preprocess(renorm), default.preprocess(inputs),
                 atol=1e-4, rtol=1e-4)
    bicubic = SigLIPTeacher(ckpts['vision'])
    assert not torch.allclose(bicubic.preprocess(inputs),
                              default.preprocess(inputs), atol=1e-3)


# --------------------------------------------------------------- frozen
def test_frozen_no_grad_and_eval(ckpts):
    parent = Parent(ckpts['vision'])
    teacher = parent.teacher
    assert list(teacher.parameters()) == []
    assert all(not p.requires_grad
               for p in teacher.vision_model.parameters())
    parent.train()
    assert parent.training and parent.student.training
    assert not teacher.training
    assert not any(m.training for m in teacher.vision_model.modules())
    inputs = clip()[0].requires_grad_()
    out = teacher(inputs)
    tensors = out.hidden_states + [out.pooled, out.attention]
    assert all(not t.requires_grad for t in tensors)


def test_absent_from_parent_state_dict_and_strict_load(ckpts):
    parent = Parent(ckpts['vision'])
    for state in (parent.state_dict(), get_state_dict(parent)):
        assert sorted(state) == ['student.bias', 'student.weight']
    other = Parent(ckpts['vision'])
    other.load_state_dict(parent.state_dict(), strict=True)
    load_state_dict(other, parent.state_dict(), strict=True)  # mmengine's
    assert_close(other.student.weight, parent.student.weight)


@pytest.mark.parametrize('paramwise_cfg', [None, dict(norm_decay_mult=0.)])
def test_not_in_optimizer(ckpts, paramwise_cfg):
    parent = Parent(ckpts['vision'])
    constructor = DefaultOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        paramwise_cfg)
    optim_wrapper = constructor(parent)
    in_optimizer = {id(p) for group in optim_wrapper.optimizer.param_groups
                    for p in group['params']}
    assert in_optimizer == {id(p) for p in parent.student.parameters()}


def test_parent_init_cfg_leaves_teacher_alone(ckpts):
    parent = Parent(ckpts['vision'],
                    init_cfg=dict(type='Normal', layer='Linear', std=10))
    model = parent.teacher.vision_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    student_before = parent.student.weight.clone()
    parent.init_weights()
    assert parent.student.weight.std() > 2 * student_before.std()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_parent_moves_teacher(ckpts):
    """``.to()`` on the parent reaches the teacher outside the module tree."""
    parent = Parent(ckpts['vision']).double()
    teacher = parent.teacher
    assert teacher.vision_model.dtype == torch.float64
    assert teacher.input_mean.dtype == torch.float64
    out = teacher(clip()[0].double())
    assert out.pooled.dtype == torch.float32


# --------------------------------------------------------------- variants
def test_full_checkpoint_loads_vision_tower(ckpts):
    teacher = SigLIPTeacher(ckpts['full'])
    full = SiglipModel.from_pretrained(ckpts['full'])
    assert type(teacher.vision_model) is SiglipVisionModel
    for key, value in full.vision_model.state_dict().items():
        assert torch.equal(teacher.vision_model.state_dict()[key], value)
    expected_mean = torch.tensor(FULL_MEAN).view(1, 3, 1, 1) * 255
    assert_close(teacher.teacher_mean, expected_mean)


def test_naflex_matches_siglip2_processor_layout(ckpts):
    teacher = SigLIPTeacher(ckpts['naflex'])
    assert teacher.is_naflex and teacher.token_grid == (2, 2)
    inputs = clip()[0]
    out = teacher(inputs)
    assert out.grid_size == (3, 2, 2)
    assert out.hidden_states[-1].shape == (2, 3, 4, 32)
    assert_close(out.attention.sum(-1), torch.ones(2, 3))
    images = teacher.preprocess(inputs)  # [6, 3, 32, 32]
    patches = torch.stack([convert_image_to_patches(im, 16) for im in images])
    ref = teacher.vision_model(
        pixel_values=patches,
        pixel_attention_mask=torch.ones(6, 4, dtype=torch.int32),
        spatial_shapes=torch.tensor([[2, 2]] * 6),
        output_hidden_states=True)
    assert_close(out.pooled, ref.pooler_output.view(2, 3, 32))
    assert_close(out.hidden_states[-1],
                 F.normalize(ref.hidden_states[-1], dim=-1).view(2, 3, 4, 32))


@pytest.mark.parametrize('name', ['vision', 'naflex'])
def test_image_size_sets_the_grid(ckpts, name):
    """A 48 px teacher gives a 3 x 3 grid (fixed-resolution checkpoints
    interpolate their position embedding)."""
    teacher = SigLIPTeacher(ckpts[name], image_size=48, layers=(-1, ))
    out = teacher(clip(size=40)[0])
    assert teacher.token_grid == (3, 3) and out.grid_size == (3, 3, 3)
    assert out.hidden_states[0].shape == (2, 3, 9, 32)
    assert out.attention.shape == (2, 3, 9)


def test_bfloat16_teacher(ckpts):
    teacher = SigLIPTeacher(ckpts['vision'], dtype='bfloat16')
    assert teacher.vision_model.dtype == torch.bfloat16
    out = teacher(clip()[0])
    ref = SigLIPTeacher(ckpts['vision'])(clip()[0])
    assert out.pooled.dtype == torch.float32
    assert_close(out.attention, ref.attention, atol=0.05, rtol=0.05)


def test_headless_checkpoint(ckpts):
    teacher = SigLIPTeacher(ckpts['headless'])
    assert not teacher.has_head
    with pytest.raises(ValueError, match='no MAP head'):
        teacher(clip()[0])
    with pytest.raises(ValueError, match='no MAP head'):
        teacher(clip()[0], return_pooled=False)
    out = teacher(clip()[0], return_pooled=False, return_attention=False)
    assert len(out.hidden_states) == 6


def test_build_from_registry(ckpts):
    teacher = MODELS.build(
        dict(type='SigLIPTeacher', pretrained=ckpts['vision'], layers=[-1]))
    assert isinstance(teacher, SigLIPTeacher) and teacher.layers == (5, )
    assert 'SiglipVisionModel' in repr(teacher)


# --------------------------------------------------------------- errors
def test_bad_pretrained_path(tmp_path):
    missing = str(tmp_path / 'no_such_checkpoint')
    with pytest.raises(OSError, match='no_such_checkpoint'):
        SigLIPTeacher(missing)


def test_not_a_siglip_checkpoint(tmp_path):
    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, image_size=32,
        patch_size=16)).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="'clip_vision_model' checkpoint"):
        SigLIPTeacher(str(tmp_path))


def test_missing_weights_are_refused(ckpts, tmp_path):
    """A config whose head has no weights would be initialised at random."""
    torch.manual_seed(0)
    SiglipVisionModel.from_pretrained(ckpts['headless']).save_pretrained(
        str(tmp_path))
    config = json.loads((tmp_path / 'config.json').read_text())
    config['vision_use_head'] = True
    (tmp_path / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='head.probe'):
        SigLIPTeacher(str(tmp_path))


@pytest.mark.parametrize('kwargs,match', [
    (dict(layers=(6, )), 'out of range'),
    (dict(layers=(-7, )), 'out of range'),
    (dict(image_size=40), 'multiple of the patch size'),
    (dict(input_mean=(0., 0.)), 'need 3 values'),
    (dict(interpolation='nearest'), 'interpolation'),
    (dict(dtype='float64x'), 'dtype'),
])
def test_bad_arguments(ckpts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SigLIPTeacher(ckpts['vision'], **kwargs)


def test_bad_input_shape(teacher):
    with pytest.raises(ValueError, match=r'\[B, 3, T, H, W\]'):
        teacher(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r'\[B, 3, T, H, W\]'):
        teacher(torch.zeros(2, 1, 3, 32, 32))
