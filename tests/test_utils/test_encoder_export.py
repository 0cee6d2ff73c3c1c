"""The exported-encoder format: architecture reading, fit check, writer."""
import json

import pytest
import torch
from safetensors.torch import load_file

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.utils.encoder_export import (block_architecture, check_fits,
                                           exported_json_path,
                                           read_source_weights,
                                           write_exported_encoder)

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


def test_read_source_weights(tmp_path):
    state_dict = {'a': torch.ones(2)}
    torch.save({'model': state_dict}, tmp_path / 'ckpt.pth')
    assert read_source_weights(str(tmp_path / 'ckpt.pth'))['model'].keys() \
        == state_dict.keys()
    torch.save(torch.ones(2), tmp_path / 'tensor.pth')
    with pytest.raises(ValueError, match=r'tensor\.pth: holds a Tensor'):
        read_source_weights(str(tmp_path / 'tensor.pth'))
    # weights_only: a pickled object that is not plain data is refused.
    torch.save({'model': torch.nn.Linear(2, 2)}, tmp_path / 'module.pth')
    with pytest.raises(Exception, match='[Ww]eights only'):
        read_source_weights(str(tmp_path / 'module.pth'))
