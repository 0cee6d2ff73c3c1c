"""The model-zoo probe configs: one encoder config per released source
(``configs/_base_/encoders/``), one row config per (source, benchmark) that
changes nothing but the encoder of the benchmark's protocol config.

* Each video encoder config is what the source's converter writes for the
  release's real layout (built on the meta device: nothing is downloaded).
* Each row equals its protocol except the encoder (and the head's width).
* Each row runs end to end at tiny size: a tiny checkpoint in the source's
  layout goes through the converter CLI and loads strictly into the row's
  model (sizes shrunk), which then encodes a clip of the protocol's shape.
"""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from safetensors.torch import load_file

import mmivnext  # noqa: F401
from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.testing import save_tiny_siglip
from mmivnext.testing.zoo_layouts import (INTERNVIDEO2_S1_VITB, RELEASES, TINY,
                                          TINY_ARCH, checkpoint_of)
from script_helpers import load_converter

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ENCODERS = osp.join(ROOT, 'configs', '_base_', 'encoders')
ENCODER_NAMES = sorted(osp.basename(p)[:-3]
                       for p in glob.glob(osp.join(ENCODERS, '*.py')))
ROWS = sorted(glob.glob(osp.join(ROOT, 'configs', 'probes', 'zoo', '*.py')) +
              glob.glob(osp.join(ROOT, 'configs', 'probes', 'depth', 'zoo',
                                 '*.py')))
#: Benchmark suffix of a row -> its protocol config (relative to configs/).
PROTOCOLS = {
    'k400':
    'probes/attentive-probe_ivnext-vit-large-p14_8xb32-16x1x1-20e_k400.py',
    'ssv2':
    'probes/attentive-probe_ivnext-vit-large-p14_8xb32-16x1x1-20e_ssv2.py',
    'kitti':
    'probes/depth/depth-probe_ivnext-vit-large-p14_8xb16-32x1x1-30e_kitti.py',
    'scannet':
    'probes/depth/depth-probe_ivnext-vit-large-p14_8xb32-16x1x1-30e_scannet.py',
}
#: Table 3's frozen InternVideo2 target (a Stage-2 ablation).
INTERNVIDEO2_TARGET = osp.join(
    ROOT, 'configs', 'ivnext', 'ablations',
    'ivnext-stage2-internvideo2-target_vit-base-p14_32xb32-8x1x1-30e_k710.py')
#: Converter script and CLI options of each source (tiny checkpoints).
CONVERTERS = {
    'internvideo_next': ('internvideo_next_to_mmivnext',
                         ['--img-size', '28', '--num-heads', '4',
                          '--projector-heads', '4']),
    'internvideo2': ('internvideo2_to_mmivnext',
                     ['--img-size', '28', '--num-heads', '4',
                      '--projector-heads', '4']),
    'videomae_v2': ('videomae_v2_to_mmivnext', ['--num-heads', '4']),
    'vjepa2': ('vjepa2_to_mmivnext', ['--num-heads', '4']),
}


def encoder_cfg(name):
    return Config.fromfile(osp.join(ENCODERS, f'{name}.py'))


def row_parts(path):
    """``(encoder config name, benchmark)`` of a row config."""
    cfg_text = open(path).read()
    encoder = next(n for n in ENCODER_NAMES if f'/{n}.py' in cfg_text)
    return encoder, osp.basename(path)[:-3].rsplit('_', 1)[1]


def converted_architecture(name, device='meta'):
    """Convert the release layout of ``name`` (a key of ``RELEASES`` or a
    ``(source, sizes)`` pair) and return the converter's ``(state dict,
    architecture)``."""
    source, sizes = RELEASES[name] if isinstance(name, str) else name
    checkpoint = checkpoint_of(source, sizes, device)
    tool = load_converter(CONVERTERS[source][0])
    state_dict = tool.convert(checkpoint)
    arch_fn = tool.iv2.architecture if source == 'internvideo_next' else \
        tool.architecture
    return state_dict, arch_fn(state_dict)


# ----------------------------------------------------------------- encoders
@pytest.mark.parametrize('name', sorted(RELEASES))
def test_encoder_config_is_the_converter_output(name):
    state_dict, arch = converted_architecture(name)
    cfg = encoder_cfg(name)
    encoder = cfg.frozen_encoder.to_dict()
    assert VisionTransformer3D.structural_args(encoder) == \
        VisionTransformer3D.structural_args(arch)
    # Frozen, raw tokens, the weights' width; the checkpoint is an exported
    # encoder (its JSON is checked again when it loads).
    width = state_dict['patch_embed.proj.weight'].shape[0]
    depth = 1 + max(int(k.split('.')[1]) for k in state_dict
                    if k.startswith('blocks.'))
    assert cfg.frozen_encoder_dims == width
    assert encoder['frozen_stages'] == depth
    assert encoder['out_type'] == 'raw'
    assert encoder['init_cfg']['checkpoint'].endswith('.safetensors')
    # The protocols' clip.
    assert (encoder['num_frames'], encoder['img_size']) == (16, 224)


def test_internvideo2_target_ablation_is_the_converter_output():
    """Table 3's frozen InternVideo2 target: the teacher backbone is what
    the converter writes for InternVideo2-B/14 stage 1."""
    _, arch = converted_architecture(INTERNVIDEO2_S1_VITB)
    cfg = Config.fromfile(INTERNVIDEO2_TARGET)
    teacher = cfg.model.teacher
    assert teacher.checkpoint == \
        'checkpoints/internvideo2_s1_vitb14_encoder.safetensors'
    assert VisionTransformer3D.structural_args(teacher.backbone.to_dict()) \
        == VisionTransformer3D.structural_args(arch)


def test_every_video_encoder_has_a_release_layout():
    vit = [n for n in ENCODER_NAMES
           if encoder_cfg(n).frozen_encoder.type ==
           'mmivnext.VisionTransformer3D']
    assert sorted(vit) == sorted(RELEASES)


def test_structural_args_see_the_head_count():
    """The comparison is not vacuous: a wrong head count (no weight shape
    changes) is a difference."""
    _, arch = converted_architecture('vjepa2_vit-large-p16')
    wrong = dict(arch, arch=dict(arch['arch'], num_heads=8))
    assert VisionTransformer3D.structural_args(wrong) != \
        VisionTransformer3D.structural_args(arch)


# --------------------------------------------------------------------- rows
def test_every_encoder_has_a_row_per_benchmark():
    rows = {}
    for path in ROWS:
        rows.setdefault(row_parts(path), []).append(path)
    assert sorted(rows) == sorted((e, b) for e in ENCODER_NAMES
                                  for b in PROTOCOLS)
    assert all(len(paths) == 1 for paths in rows.values())


@pytest.mark.parametrize('path', ROWS,
                         ids=[osp.basename(p)[:-3] for p in ROWS])
def test_row_is_its_protocol_with_another_encoder(path):
    encoder_name, benchmark = row_parts(path)
    row = Config.fromfile(path).to_dict()
    protocol = Config.fromfile(
        osp.join(ROOT, 'configs', PROTOCOLS[benchmark])).to_dict()
    encoder = encoder_cfg(encoder_name)
    head = 'cls_head' if 'cls_head' in protocol['model'] else 'head'

    expected_backbone = encoder.frozen_encoder.to_dict()
    if 'num_frames' in expected_backbone:
        expected_backbone['num_frames'] = protocol['num_frames'] \
            if 'num_frames' in protocol else 16
    assert row['model']['backbone'] == expected_backbone
    assert row['model'][head]['in_channels'] == encoder.frozen_encoder_dims
    # Everything else is the protocol's: data, schedule, metric, head.
    for cfg in (row, protocol):
        del cfg['model']['backbone']
        del cfg['model'][head]['in_channels']
    for key in ('frozen_encoder', 'frozen_encoder_dims'):
        row.pop(key)
    assert row == protocol


# ---------------------------------------------------------- end to end tiny
@pytest.fixture(scope='module')
def tiny_encoders(tmp_path_factory):
    """Every zoo encoder at tiny size: converted video checkpoints (through
    the converters' command-line entry points, run in this process; each
    converter's own tests run its script) and saved transformers image
    models."""
    root = tmp_path_factory.mktemp('zoo')
    out = {}
    for name, (source, sizes) in TINY.items():
        src = root / f'{name}.pth'
        torch.save(checkpoint_of(source, sizes), src)
        script, options = CONVERTERS[source]
        dst = root / f'{name}.safetensors'
        load_converter(script).main([str(src), str(dst), *options])
        out[name] = str(dst)
    out['siglip2_vit-large-p16'] = save_tiny_siglip(
        str(root / 'siglip'), hidden_size=64, num_heads=4, image_size=32)
    from transformers import DINOv3ViTConfig, DINOv3ViTModel
    torch.manual_seed(0)
    DINOv3ViTModel(DINOv3ViTConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, patch_size=16, image_size=32,
        num_register_tokens=2)).save_pretrained(str(root / 'dinov3'))
    with open(root / 'dinov3' / 'preprocessor_config.json', 'w') as f:
        json.dump(dict(image_mean=[0.485, 0.456, 0.406],
                       image_std=[0.229, 0.224, 0.225]), f)
    out['dinov3_vit-large-p16'] = str(root / 'dinov3')
    return out


def shrink(cfg, path, tiny_encoders):
    """The row's model at tiny size, loading the tiny checkpoint."""
    encoder_name, _ = row_parts(path)
    backbone = cfg.model.backbone
    if backbone.type == 'mmivnext.VisionTransformer3D':
        backbone.arch = dict(TINY_ARCH)
        backbone.frozen_stages = TINY_ARCH['num_layers']
        backbone.init_cfg.checkpoint = tiny_encoders[encoder_name]
        if backbone.get('projector_cfg'):
            backbone.projector_cfg.update(num_heads=4, out_dims=32)
    else:
        backbone.pretrained = tiny_encoders[encoder_name]
        backbone.image_size = 32
    head = cfg.model.get('cls_head') or cfg.model.head
    head.in_channels = TINY_ARCH['embed_dims']
    if 'embed_dims' in head:  # the depth head's own width
        head.update(embed_dims=32, num_heads=4)
    return cfg


E2E_ROWS = [p for p in ROWS if p.endswith(('_k400.py', '_scannet.py'))]


@pytest.mark.parametrize('path', E2E_ROWS,
                         ids=[osp.basename(p)[:-3] for p in E2E_ROWS])
def test_row_runs_at_tiny_size(path, tiny_encoders):
    cfg = shrink(Config.fromfile(path), path, tiny_encoders)
    encoder_name, benchmark = row_parts(path)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        if cfg.default_scope == 'mmaction':
            from mmaction.registry import MODELS
        else:
            from mmivnext.registry import MODELS
        model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone
    if isinstance(backbone, VisionTransformer3D):
        # The converted weights were loaded (strictly), not initialised.
        converted = load_file(tiny_encoders[encoder_name])
        state = backbone.state_dict()
        for key in ('patch_embed.proj.weight', 'blocks.1.mlp.fc2.weight'):
            torch.testing.assert_close(state[key], converted[key])
    assert all(not p.requires_grad for p in backbone.parameters())

    frames = 16  # both protocols used here: K400 and ScanNet
    clip = torch.randn(1, 3, frames, 224, 224)
    model.eval()
    with torch.no_grad():
        if benchmark == 'k400':
            tokens = model(clip.unsqueeze(1), mode='tensor')  # [1, L, C]
            assert tokens.shape[0::2] == (1, TINY_ARCH['embed_dims'])
            assert model.cls_head(tokens).shape == (1, 400)
        else:
            log_depth = model(clip, mode='tensor')
            assert log_depth.shape == (1, frames, 224, 224)
            assert torch.isfinite(log_depth).all()


def test_exported_architecture_mismatch_is_refused(tiny_encoders):
    """A row whose encoder disagrees with the converted JSON in something no
    weight shape shows (here the head count) fails when loading."""
    path = next(p for p in E2E_ROWS if 'vjepa2' in p and p.endswith('k400.py'))
    cfg = shrink(Config.fromfile(path), path, tiny_encoders)
    cfg.model.backbone.arch['num_heads'] = 8
    with DefaultScope.overwrite_default_scope('mmaction'):
        from mmaction.registry import MODELS
        model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match=r'num_heads.*4.*8'):
        model.init_weights()


def test_internvideo2_target_loads_a_converted_checkpoint(tmp_path):
    """The ablation's teacher, shrunk, loads a tiny InternVideo2 stage-1
    checkpoint converted by the converter's entry point; a head count other than the JSON's is
    refused (the teacher loads its encoder itself, and checks it too)."""
    from mmivnext.models.teachers import FrozenVideoTeacher
    source, sizes = INTERNVIDEO2_S1_VITB
    sizes = dict(sizes, width=64, depth=2, mlp=128, frames=4, size=28)
    src, dst = tmp_path / 'iv2_s1.pth', tmp_path / 'iv2_s1.safetensors'
    torch.save(checkpoint_of(source, sizes), src)
    script, options = CONVERTERS[source]
    load_converter(script).main([str(src), str(dst), *options])
    cfg = Config.fromfile(INTERNVIDEO2_TARGET).model.teacher.to_dict()
    cfg.pop('type')
    cfg.update(checkpoint=str(dst))
    cfg['backbone'].update(arch=dict(TINY_ARCH), num_frames=4)
    teacher = FrozenVideoTeacher(**cfg)
    converted = load_file(str(dst))
    torch.testing.assert_close(teacher.encoder.blocks[1].ls2.gamma,
                               converted['blocks.1.ls2.gamma'])
    tokens = teacher(torch.randn(1, 3, 4, 56, 56))
    assert tokens.shape == (1, 4 * 4 * 4, 64)
    cfg['backbone']['arch']['num_heads'] = 2
    with pytest.raises(ValueError, match=r'num_heads: 4 .*vs 2'):
        FrozenVideoTeacher(**cfg)
