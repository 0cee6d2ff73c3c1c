"""The exported-encoder format: architecture reading, fit check, writer."""
import json

import pytest
import torch
from safetensors.torch import load_file

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.utils.encoder_export import (block_architecture, check_fits,
                                           encoder_architecture, exit_error,
                                           recorded_architecture,
                                           write_exported_encoder)
from mmivnext.utils.encoder_loading import exported_json_path

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=96)


def weights(**kwargs):
    encoder = VisionTransformer3D(arch=ARCH, img_size=28, num_frames=4,
                                  **kwargs)
    encoder.init_weights()
    return encoder.state_dict()


def test_block_architecture_reads_the_weights():
    state_dict = weights()
    assert block_architecture(state_dict, {64: 4}) == ARCH
    assert block_architecture(state_dict, {}, num_heads=8)['num_heads'] == 8
    with pytest.raises(ValueError, match='width 64; give num_heads'):
        block_architecture(state_dict, {768: 12})
    state_dict = {k.replace('blocks.1.', 'blocks.2.'): v
                  for k, v in weights().items()}
    with pytest.raises(ValueError, match=r'\[0, 2\]'):
        block_architecture(state_dict, {64: 4})


def test_writer_checks_the_fit_and_writes_the_pair(tmp_path):
    arch = dict(arch=ARCH, img_size=28, num_frames=4)
    out = str(tmp_path / 'sub' / 'enc.safetensors')
    json_path = write_exported_encoder(weights(), arch, out)
    assert json_path == exported_json_path(out)
    assert json_path == str(tmp_path / 'sub' / 'enc.json')
    assert json.load(open(json_path)) == json.loads(json.dumps(arch))
    assert load_file(out).keys() == weights().keys()
    with pytest.raises(ValueError, match='unexpected.*fc_norm'):
        check_fits(arch, {**weights(), 'fc_norm.weight': torch.ones(64)})
    assert exported_json_path('enc.pth') is None


def test_recorded_architecture_is_checked_data():
    backbone = dict(type='mmivnext.VisionTransformer3D', arch=ARCH,
                    img_size=28, num_frames=4, drop_path_rate=0.2,
                    init_cfg=dict(type='Pretrained', checkpoint='x.pth'))
    record = encoder_architecture(backbone)
    checkpoint = dict(meta=dict(encoder_architecture=record,
                                cfg='raise SystemExit("never run")'))
    assert recorded_architecture(checkpoint, 'c.pth') == record
    assert recorded_architecture(dict(meta=dict(cfg='x = 1')), 'c.pth') \
        is None
    assert recorded_architecture({}, 'c.pth') is None

    def refused(value, match):
        with pytest.raises(ValueError, match=match):
            recorded_architecture(
                dict(meta=dict(encoder_architecture=value)), 'c.pth')

    key = r"c\.pth: meta\['encoder_architecture'\]"
    refused('model = dict()', key + ' is a str, not a dict')
    refused(dict(record, img_size=torch.tensor(28)),
            key + r"\['img_size'\]: a torch.Tensor, not plain data")
    refused(dict(record, arch={**ARCH, 1: 2}), key + r"\['arch'\]: a key")
    refused(dict(record, type='VisionTransformer3D'),
            key + r" has keys .*not VisionTransformer3D arguments: \['type'\]")
    refused(dict(record, depth=3), r"arguments: \['depth'\]")
    refused(dict(record, arch='enormous'),
            key + ' is not a valid VisionTransformer3D architecture')


def test_exit_error_names_the_file_once():
    assert str(exit_error('a.pth', ValueError('bad'))) == 'error: a.pth: bad'
    assert str(exit_error('a.pth', ValueError('a.pth: bad'))) == \
        'error: a.pth: bad'
