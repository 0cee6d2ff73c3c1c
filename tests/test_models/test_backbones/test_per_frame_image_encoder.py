"""PerFrameImageEncoder on tiny random image models written to tmp dirs (width
32, 2 layers, patch 16, 32 px -> a 2 x 2 grid per frame): equality with the
transformers model run frame by frame, the out_type shapes, freezing, and a
Recognizer3D with an AttentiveProbeHead on top."""
import json

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (upstream fixes before transformers)
from mmivnext.models.backbones import PerFrameImageEncoder
from mmivnext.models.data_preprocessors.video_pretrain_data_preprocessor \
    import IMAGENET_MEAN, IMAGENET_STD
from mmivnext.models.teachers import SigLIPTeacher
from mmivnext.registry import MODELS
from mmivnext.testing import save_tiny_siglip
from transformers import (AutoModel, Dinov2Config, Dinov2Model,
                          DINOv3ViTConfig, DINOv3ViTModel,
                          Siglip2VisionConfig, Siglip2VisionModel,
                          SiglipVisionConfig, SiglipVisionModel)

C = 32
TINY = dict(hidden_size=C, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, patch_size=16)
#: DINO statistics of the preprocessor config written for the DINO models.
DINO_MEAN, DINO_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _save(model, path):
    model.save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Folders of tiny checkpoints: ``siglip`` (save_tiny_siglip), ``naflex``
    (Siglip2VisionModel), ``dinov2`` and ``dinov3`` (2 register tokens), with
    DINO's statistics in a preprocessor config, and ``broken`` (a SigLIP
    config with a MAP head over weights without one)."""
    root = tmp_path_factory.mktemp('per_frame')
    dirs = dict(siglip=save_tiny_siglip(str(root / 'siglip'), hidden_size=C,
                                        num_heads=2, image_size=32))
    torch.manual_seed(0)
    dirs['naflex'] = _save(
        Siglip2VisionModel(Siglip2VisionConfig(num_patches=4, **TINY)),
        root / 'naflex')
    dirs['dinov2'] = _save(
        Dinov2Model(Dinov2Config(image_size=32, mlp_ratio=2, **{
            k: v for k, v in TINY.items() if k != 'intermediate_size'})),
        root / 'dinov2')
    dirs['dinov3'] = _save(
        DINOv3ViTModel(DINOv3ViTConfig(image_size=32, num_register_tokens=2,
                                       **TINY)), root / 'dinov3')
    for name in ('dinov2', 'dinov3'):
        with open(f'{dirs[name]}/preprocessor_config.json', 'w') as file:
            json.dump(dict(image_mean=DINO_MEAN, image_std=DINO_STD,
                           resample=2), file)
    dirs['broken'] = _save(
        SiglipVisionModel(SiglipVisionConfig(image_size=32,
                                             vision_use_head=False, **TINY)),
        root / 'broken')
    with open(f'{dirs["broken"]}/config.json') as file:
        config = json.load(file)
    config['vision_use_head'] = True
    with open(f'{dirs["broken"]}/config.json', 'w') as file:
        json.dump(config, file)
    return dirs


def _clips(batch=2, frames=3, size=32, seed=0):
    """ImageNet-normalised clips ``[B, 3, T, S, S]``."""
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, 3, frames, size, size),
                           generator=gen).float()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (pixels - mean) / std


def _frames(clips, mean, std, size=None, mode='bicubic'):
    """The clips' frames ``[B * T, 3, S, S]`` as the model expects them:
    0-1 pixels normalised with its ``mean`` / ``std`` (0-1 scale)."""
    pixels = clips * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1) + \
        torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    frames = pixels.transpose(1, 2).flatten(0, 1)  # [BT, 3, H, W]
    if size is not None:
        frames = F.interpolate(frames, size=(size, size), mode=mode,
                               antialias=True)
    return (frames / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)


# ------------------------------------------------- equality, frame by frame
@pytest.mark.parametrize('size', [32, 48], ids=['native', 'resized'])
def test_siglip_equals_model_frame_by_frame(ckpts, size):
    encoder = PerFrameImageEncoder(ckpts['siglip'])
    reference = SiglipVisionModel.from_pretrained(ckpts['siglip']).eval()
    clips = _clips(size=size)  # [2, 3, 3, S, S]
    frames = _frames(clips, (0.5, ) * 3, (0.5, ) * 3,
                     size=None if size == 32 else 32)
    with torch.no_grad():
        expected = reference(pixel_values=frames)
    tokens = encoder(clips)
    assert tokens.shape == (2, 3 * 4, C)
    # frame-major: frame t of sample b is reference row b * T + t
    assert_close(tokens, expected.last_hidden_state.reshape(2, 12, C))

    pooled = PerFrameImageEncoder(ckpts['siglip'], out_type='pooled')(clips)
    assert_close(pooled, expected.pooler_output.view(2, 3, C))


def test_hidden_state_layer(ckpts):
    clips = _clips()
    reference = SiglipVisionModel.from_pretrained(ckpts['siglip']).eval()
    with torch.no_grad():
        states = reference(pixel_values=_frames(clips, (0.5, ) * 3,
                                                (0.5, ) * 3),
                           output_hidden_states=True).hidden_states
    for layer in (0, 1, -1):
        tokens = PerFrameImageEncoder(ckpts['siglip'], layer=layer)(clips)
        assert_close(tokens, states[layer].reshape(2, 12, C))
    with pytest.raises(ValueError, match='out of range'):
        PerFrameImageEncoder(ckpts['siglip'], layer=3)
    with pytest.raises(ValueError, match='leave layer=None'):
        PerFrameImageEncoder(ckpts['siglip'], layer=1, out_type='pooled')


def test_naflex_equals_teacher(ckpts):
    """NaFlex SigLIP 2 shares SigLIPTeacher's patchify; the teacher returns
    L2-normalised hidden states. (The teacher resizes without antialiasing
    by default, as the authors; the encoder as transformers' processor.)"""
    clips = _clips(size=40)
    tokens = PerFrameImageEncoder(ckpts['naflex'], layer=-1)(clips)
    teacher = SigLIPTeacher(ckpts['naflex'], layers=(-1, ), antialias=True)
    expected = teacher(clips, return_pooled=False, return_attention=False)
    assert_close(F.normalize(tokens, dim=-1),
                 expected.hidden_states[0].flatten(1, 2))


@pytest.mark.parametrize('name,prefix', [('dinov2', 1), ('dinov3', 3)])
def test_dino_drops_prefix_tokens(ckpts, name, prefix):
    encoder = PerFrameImageEncoder(ckpts[name])
    assert encoder.num_prefix_tokens == prefix
    reference = AutoModel.from_pretrained(ckpts[name]).eval()
    clips = _clips(size=40)
    with torch.no_grad():
        expected = reference(pixel_values=_frames(
            clips, DINO_MEAN, DINO_STD, size=32, mode='bilinear'),
            output_hidden_states=True)
    assert_close(encoder(clips),
                 expected.last_hidden_state[:, prefix:].reshape(2, 12, C))
    tokens = PerFrameImageEncoder(ckpts[name], layer=1)(clips)
    assert_close(tokens,
                 expected.hidden_states[1][:, prefix:].reshape(2, 12, C))
    pooled = PerFrameImageEncoder(ckpts[name], out_type='pooled')(clips)
    assert_close(pooled, expected.pooler_output.view(2, 3, C))


# ---------------------------------------------------------------- out types
def test_out_types(ckpts):
    clips = _clips()
    raw = PerFrameImageEncoder(ckpts['siglip'])(clips)  # [2, 12, C]
    featmap = PerFrameImageEncoder(ckpts['siglip'], out_type='featmap')(clips)
    assert featmap.shape == (2, C, 3, 2, 2)
    assert_close(featmap.flatten(2).transpose(1, 2), raw)
    avg = PerFrameImageEncoder(ckpts['siglip'], out_type='avg_featmap')(clips)
    assert avg.shape == (2, C)
    assert_close(avg, raw.mean(dim=1))
    with pytest.raises(ValueError, match='out_type'):
        PerFrameImageEncoder(ckpts['siglip'], out_type='cls_token')


def test_refuses_missing_weights_and_other_models(ckpts, tmp_path):
    with pytest.raises(ValueError, match='lacks weights'):
        PerFrameImageEncoder(ckpts['broken'])
    with open(tmp_path / 'config.json', 'w') as file:
        json.dump(dict(model_type='bert'), file)
    with pytest.raises(ValueError, match="'bert' checkpoint"):
        PerFrameImageEncoder(str(tmp_path))


# -------------------------------------------------------------------- frozen
def test_frozen_by_default(ckpts):
    encoder = PerFrameImageEncoder(ckpts['siglip'])
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert encoder.training and not encoder.model.training
    assert not any(m.training for m in encoder.model.modules())
    clips = _clips().requires_grad_()
    assert not encoder(clips).requires_grad
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder.init_weights()  # must not re-initialise the loaded weights
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key])


def test_trainable_when_not_frozen(ckpts):
    encoder = PerFrameImageEncoder(ckpts['siglip'], frozen=False)
    encoder.train()
    assert encoder.model.training
    encoder(_clips()).sum().backward()
    # the MAP head is not on the path of the patch tokens
    grads = {n: p.grad for n, p in encoder.named_parameters()
             if '.head.' not in n}
    assert len(grads) > 10 and all(g is not None for g in grads.values())


# ---------------------------------------------------------------- mmaction2
def test_recognizer3d_with_attentive_probe(ckpts):
    from mmaction.registry import MODELS as MMACTION_MODELS
    cfg = dict(
        type='mmaction.Recognizer3D',
        backbone=dict(type='mmivnext.PerFrameImageEncoder',
                      pretrained=ckpts['siglip']),
        cls_head=dict(type='mmivnext.AttentiveProbeHead', num_classes=3,
                      in_channels=C, num_heads=2, topk=(1, )),
        data_preprocessor=dict(type='mmaction.ActionDataPreprocessor',
                               mean=list(IMAGENET_MEAN),
                               std=list(IMAGENET_STD), format_shape='NCTHW'))
    with DefaultScope.overwrite_default_scope('mmaction'):
        recognizer = MMACTION_MODELS.build(cfg)
    assert isinstance(recognizer.backbone, PerFrameImageEncoder)
    assert MODELS.get('PerFrameImageEncoder') is PerFrameImageEncoder
    recognizer.init_weights()
    gen = torch.Generator().manual_seed(0)

    def batch():
        samples = [ActionDataSample().set_gt_label(label) for label in (0, 2)]
        inputs = [torch.randint(0, 256, (1, 3, 2, 40, 40), generator=gen,
                                dtype=torch.uint8) for _ in range(2)]
        return dict(inputs=inputs, data_samples=samples)

    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in recognizer.parameters() if p.requires_grad], lr=1e-2))
    before = {n: p.detach().clone() for n, p in recognizer.named_parameters()}
    recognizer.train()
    losses = recognizer.train_step(batch(), optim)
    assert torch.isfinite(losses['loss_cls'])
    changed = {n for n, p in recognizer.named_parameters()
               if not torch.equal(before[n], p)}
    assert changed and all(n.startswith('cls_head.') for n in changed)

    recognizer.eval()
    with torch.no_grad():
        preds = recognizer.test_step(batch())
    assert len(preds) == 2 and preds[0].pred_score.shape == (3, )


def test_dino_without_its_statistics_is_refused(tmp_path):
    """DINO's normalisation has no default (SigLIP's would be wrong): a
    folder without preprocessor_config.json is refused, naming it."""
    torch.manual_seed(0)
    path = _save(DINOv3ViTModel(DINOv3ViTConfig(
        image_size=32, num_register_tokens=2, **TINY)), tmp_path / 'dino')
    with pytest.raises(FileNotFoundError,
                       match='dino.*no preprocessor_config.json'):
        PerFrameImageEncoder(pretrained=path)
