"""tools/model_converters: stage1_to_stage2, export_encoder, publish_model.

The pure ``convert`` / ``publish`` functions on tiny fake state dicts, and
the CLIs end to end on a fake Stage-1 runner checkpoint of a tiny encoder
(width 32, 2 layers, 4 frames, 28 px).
"""
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from safetensors.torch import load_file
from torch.testing import assert_close

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.teachers import FrozenVideoTeacher
from script_helpers import load_converter

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools', 'model_converters')
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
#: The Stage-1 backbone config, with training options set.
BACKBONE = dict(type='mmivnext.VisionTransformer3D', arch=TINY, img_size=28,
                num_frames=4, num_cls_tokens=2, drop_path_rate=0.1,
                out_indices=(-2, -1), with_cp=True, frozen_stages=-1,
                init_cfg=dict(type='Pretrained', checkpoint='unused.pth'))


stage1_to_stage2 = load_converter('stage1_to_stage2')
export_encoder = load_converter('export_encoder')
publish_model = load_converter('publish_model')


def make_encoder():
    """The encoder of :data:`BACKBONE`, giving the last layer only."""
    torch.manual_seed(0)
    cfg = {k: v for k, v in BACKBONE.items() if k not in ('type', 'init_cfg')}
    encoder = VisionTransformer3D(**cfg | dict(out_indices=-1))
    encoder.init_weights()
    return encoder.eval()


def fake_state_dict():
    """Tiny stand-ins for each part of a Stage-1 model."""
    return {
        'backbone.pos_embed': torch.zeros(1, 2, 4),
        'backbone.blocks.0.attn.qkv.weight': torch.ones(12, 4),
        'predictor.layers.0.weight': torch.full((4, 4), 2.),
        'pixel_head.net.0.weight': torch.ones(3),
        'align_head.proj.weight': torch.ones(5),
    }


@pytest.fixture(scope='module')
def stage1(tmp_path_factory):
    """A Stage-1 runner checkpoint as MMEngine writes it (message hub as
    WeightsOnlyCheckpointHook stores it; config text in ``meta['cfg']``, the
    architecture as data in ``meta['encoder_architecture']``), of a tiny
    encoder; and the encoder."""
    encoder = make_encoder()
    state_dict = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    state_dict.update({
        'predictor.layers.0.weight': torch.randn(4, 4),
        'pixel_head.net.0.weight': torch.randn(3),
        'align_head.proj.weight': torch.randn(5),
    })
    cfg = Config(dict(model=dict(type='InternVideoNextStage1',
                                 backbone=BACKBONE)))
    checkpoint = dict(
        meta=dict(epoch=2, iter=20, seed=0, cfg=cfg.pretty_text,
                  encoder_architecture=export_encoder.encoder_architecture(
                      BACKBONE),
                  mmengine_version='0.10.7', experiment_name='stage1'),
        state_dict=state_dict,
        message_hub=dict(log_scalars={}, runtime_info=dict(epoch=2)),
        optimizer=dict(state={0: dict(exp_avg=torch.ones(3))},
                       param_groups=[dict(lr=1e-3, params=[0])]),
        param_schedulers=[dict(last_step=20)])
    path = str(tmp_path_factory.mktemp('stage1') / 'epoch_2.pth')
    torch.save(checkpoint, path)
    return path, encoder


def clip():
    return torch.randn(2, 3, 4, 28, 28,
                       generator=torch.Generator().manual_seed(1))


# -------------------------------------------------------- stage1_to_stage2
def test_stage1_to_stage2_convert():
    state_dict = fake_state_dict()
    out = stage1_to_stage2.convert(state_dict)
    assert list(out) == ['backbone.pos_embed',
                         'backbone.blocks.0.attn.qkv.weight',
                         'predictor.layers.0.weight']
    assert out['predictor.layers.0.weight'] is \
        state_dict['predictor.layers.0.weight']
    with pytest.raises(ValueError, match=r"no backbone.*\['pixel_head.'\]"):
        stage1_to_stage2.convert({'pixel_head.w': torch.ones(1)})


def test_stage1_to_stage2_cli(stage1, tmp_path):
    src, encoder = stage1
    dst = str(tmp_path / 'out' / 's2_init.pth')
    stage1_to_stage2.main([src, dst])
    out = torch.load(dst, weights_only=True)
    assert set(out) == {'state_dict', 'meta'}
    parts = {k.split('.')[0] for k in out['state_dict']}
    assert parts == {'backbone', 'predictor'}
    assert out['meta']['source'] == src and out['meta']['epoch'] == 2
    # The architecture is carried as data, never the config text.
    assert 'cfg' not in out['meta']
    assert out['meta']['encoder_architecture'] == \
        export_encoder.encoder_architecture(BACKBONE)
    # As the frozen teacher's checkpoint ...
    teacher = FrozenVideoTeacher(
        dict(BACKBONE, out_indices=-1, init_cfg=None), dst)
    assert_close(teacher(clip()),
                 torch.nn.functional.normalize(encoder(clip())[:, 2:], dim=-1))
    # ... and as the student's init (Pretrained with a prefix).
    student = VisionTransformer3D(
        **{k: v for k, v in BACKBONE.items() if k != 'type'}
        | dict(init_cfg=dict(type='Pretrained', checkpoint=dst,
                             prefix='backbone.')))
    student.init_weights()
    for key, value in encoder.state_dict().items():
        assert torch.equal(student.state_dict()[key], value), key


def test_stage1_to_stage2_bad_input(tmp_path):
    bad = str(tmp_path / 'recognizer.pth')
    torch.save(dict(state_dict={'cls_head.fc.weight': torch.ones(2)}), bad)
    with pytest.raises(SystemExit, match=r'recognizer.pth: no backbone'):
        stage1_to_stage2.main([bad, str(tmp_path / 'out.pth')])
    assert not osp.exists(tmp_path / 'out.pth')
    with pytest.raises(SystemExit, match='missing.pth: no such file'):
        stage1_to_stage2.main([str(tmp_path / 'missing.pth'),
                               str(tmp_path / 'out.pth')])


# ---------------------------------------------------------- export_encoder
def test_export_convert():
    out = export_encoder.convert(fake_state_dict())
    assert list(out) == ['pos_embed', 'blocks.0.attn.qkv.weight']
    out = export_encoder.convert({'pos_embed': torch.ones(1)}, prefix='')
    assert list(out) == ['pos_embed']
    with pytest.raises(ValueError, match=r"prefix 'encoder.'"):
        export_encoder.convert(fake_state_dict(), prefix='encoder.')


def test_encoder_architecture():
    arch = export_encoder.encoder_architecture(BACKBONE)
    assert 'type' not in arch and 'init_cfg' not in arch
    assert arch['drop_path_rate'] == 0. and arch['out_indices'] == -1
    assert arch['with_cp'] is False and arch['out_type'] == 'raw'
    assert arch['arch'] == TINY and arch['num_cls_tokens'] == 2
    assert BACKBONE['drop_path_rate'] == 0.1  # the input is not changed
    with pytest.raises(ValueError, match="'mmaction.ResNet3d'"):
        export_encoder.encoder_architecture(dict(type='mmaction.ResNet3d'))


def test_export_cli_end_to_end(stage1, tmp_path):
    """Export (as users run it) -> VisionTransformer3D(**json,
    init_cfg=Pretrained) -> init_weights() -> the source encoder."""
    src, encoder = stage1
    out = str(tmp_path / 'encoder.safetensors')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'export_encoder.py'), src, out],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(load_file(out)) == set(encoder.state_dict())
    with open(str(tmp_path / 'encoder.json')) as f:
        arch = json.load(f)
    assert arch['drop_path_rate'] == 0. and arch['out_indices'] == -1
    rebuilt = VisionTransformer3D(
        **arch, init_cfg=dict(type='Pretrained', checkpoint=out))
    rebuilt.init_weights()
    rebuilt.eval()
    for key, value in encoder.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    assert_close(rebuilt(clip()), encoder(clip()), rtol=0, atol=0)


def test_export_with_config_option(stage1, tmp_path):
    """Without the data-only record, export refuses (config text is never
    run) and asks for the training config."""
    src, encoder = stage1
    no_cfg = str(tmp_path / 'no_cfg.pth')
    source = torch.load(src, weights_only=True)
    del source['meta']['encoder_architecture']  # meta['cfg'] stays
    torch.save(source, no_cfg)
    out = str(tmp_path / 'enc.safetensors')
    with pytest.raises(SystemExit, match=r"^error: \S*no_cfg.pth: records no "
                       r"encoder architecture \(meta\['encoder_architecture'"
                       r"\]\); pass the training config: --config CONFIG"):
        export_encoder.main([no_cfg, out])
    assert not osp.exists(out)
    config = str(tmp_path / 'stage1_cfg.py')
    Config(dict(model=dict(backbone=BACKBONE))).dump(config)
    export_encoder.main([no_cfg, out, '--config', config])
    with open(str(tmp_path / 'enc.json')) as f:
        assert json.load(f)['num_cls_tokens'] == 2


def test_export_refuses_weights_of_another_architecture(stage1, tmp_path):
    src, _ = stage1
    config = str(tmp_path / 'deeper.py')
    Config(dict(model=dict(backbone=dict(
        BACKBONE, arch=dict(TINY, num_layers=3))))).dump(config)
    out = str(tmp_path / 'enc.safetensors')
    with pytest.raises(SystemExit, match=r"missing \['blocks.2.attn"):
        export_encoder.main([src, out, '--config', config])
    assert not osp.exists(out)
    with pytest.raises(SystemExit, match='must end with .safetensors'):
        export_encoder.main([src, str(tmp_path / 'enc.pth')])


# ----------------------------------------------------------- publish_model
def test_publish_strips_training_state():
    checkpoint = dict(
        meta=dict(epoch=3, iter=30, seed=7, cfg='model = dict()',
                  mmengine_version='0.10.7'),
        state_dict={**fake_state_dict(), 'teacher.encoder.w': torch.ones(1)},
        message_hub=dict(), optimizer=dict(), param_schedulers=[],
        ema_teacher={'w': torch.ones(1)})
    out = publish_model.publish(checkpoint)
    assert set(out) == {'meta', 'state_dict'}
    assert set(out['state_dict']) == set(fake_state_dict())
    assert out['meta'] == dict(epoch=3, iter=30, mmengine_version='0.10.7')
    with pytest.raises(ValueError, match='no state_dict'):
        publish_model.publish(dict(meta={}))


def test_publish_cli(stage1, tmp_path):
    src, _ = stage1
    final = publish_model.main([src, str(tmp_path / 'ivnext-s1.pth')])
    assert re.fullmatch(r'ivnext-s1-[0-9a-f]{8}\.pth', osp.basename(final))
    with open(final, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == final[-12:-4]
    assert os.listdir(tmp_path) == [osp.basename(final)]
    out = torch.load(final, weights_only=True)
    source = torch.load(src, weights_only=True)
    assert set(out) == {'meta', 'state_dict'}
    assert 'seed' not in out['meta'] and out['meta']['epoch'] == 2
    assert 'cfg' not in out['meta']  # config text is never published
    assert out['meta']['encoder_architecture'] == \
        source['meta']['encoder_architecture']
    for key, value in source['state_dict'].items():
        assert torch.equal(out['state_dict'][key], value), key
