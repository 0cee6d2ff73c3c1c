"""tools/model_converters/internvideo2_to_mmivnext.py.

A tiny fake InternVideo2 encoder (1 cls token, no patch norms; alone and
nested under ``vision_encoder.`` with a classifier and text parts) is
converted, loaded strictly into ``VisionTransformer3D`` and compared with a
plain-torch forward of the source arithmetic
(:mod:`mmivnext.testing.internvideo_reference`).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from script_helpers import ROOT, load_converter
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.testing.internvideo_reference import (HEADS, PROJ_HEADS, SIZE,
                                                    fake_state_dict,
                                                    reference_forward, video)

TOOLS = osp.join(ROOT, 'tools', 'model_converters')
iv2 = load_converter('internvideo2_to_mmivnext')


def multimodal_state_dict():
    """The encoder under ``vision_encoder.``, next to other parts."""
    sd = {f'vision_encoder.{k}': v
          for k, v in fake_state_dict(num_cls=1, norm_before=False).items()}
    sd.update({'vision_encoder.clip_pos_embed': torch.zeros(1, 17, 64),
               'vision_encoder.fc_norm.weight': torch.ones(32),
               'text_encoder.embeddings.weight': torch.ones(5, 4),
               'temp': torch.ones(())})
    return sd


def test_convert_strict_load_and_forward():
    sd = fake_state_dict(num_cls=1, norm_before=False)
    sd.update({'fc_norm.weight': torch.ones(32), 'head.weight': torch.ones(
        10, 32)})  # a fine-tuned classifier's head is left out
    out = iv2.convert(sd, img_size=SIZE)
    assert 'head.weight' not in out and 'fc_norm.weight' not in out
    arch = iv2.architecture(out, num_heads=HEADS, projector_heads=PROJ_HEADS,
                            img_size=SIZE)
    assert arch['num_cls_tokens'] == 1 and arch['num_frames'] == 4
    assert arch['patch_pixel_norm_cfg'] is None
    assert arch['patch_norm_cfg'] is None and arch['qkv_bias'] is False
    assert arch['norm_cfg'] == dict(type='RMSNorm', eps=1e-6)
    model = VisionTransformer3D(**arch)
    result = model.load_state_dict(out, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # float64: the encoder's kernels (conv3d, SDPA) and the written-out ops
    # round differently in fp32.
    model.double().eval()
    x = video().double()
    ref_tokens, ref_projected = reference_forward(sd, x)
    with torch.no_grad():
        assert_close(model(x), ref_tokens)
        model.out_type = 'projected'
        assert_close(model(x), ref_projected)


def test_prefix_and_split():
    sd = multimodal_state_dict()
    assert iv2.find_prefix(sd) == 'vision_encoder.'
    encoder, rest = iv2.split(sd)
    assert set(rest) == {'vision_encoder.clip_pos_embed',
                         'vision_encoder.fc_norm.weight',
                         'text_encoder.embeddings.weight', 'temp'}
    assert set(encoder) == set(fake_state_dict(1, False))
    assert iv2.summarize(rest) == 'temp (1), text_encoder (1), ' \
        'vision_encoder (2)'
    assert set(iv2.convert(sd, img_size=SIZE)) == set(
        iv2.convert(fake_state_dict(1, False), img_size=SIZE))


def test_convert_errors():
    sd = fake_state_dict(num_cls=1, norm_before=False)
    sep = {k: v for k, v in sd.items() if k != 'pos_embed'}
    sep['pos_embed_spatial'] = torch.zeros(1, 4, 64)
    with pytest.raises(ValueError, match='separable position embedding'):
        iv2.convert(sep)
    no_pos = {k: v for k, v in sd.items() if k != 'pos_embed'}
    with pytest.raises(ValueError, match='no pos_embed'):
        iv2.convert(no_pos)
    with pytest.raises(ValueError, match='not a multiple of the patch size'):
        iv2.convert(sd, img_size=30)


def test_cli_end_to_end(tmp_path):
    """Multi-modal safetensors -> CLI as users run it -> JSON + Pretrained ->
    the source encoder's forward."""
    src = str(tmp_path / 'internvideo2.safetensors')
    sd = multimodal_state_dict()
    save_file(sd, src)
    out = str(tmp_path / 'out' / 'iv2.safetensors')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'internvideo2_to_mmivnext.py'), src,
         out, '--num-heads', str(HEADS), '--projector-heads',
         str(PROJ_HEADS), '--img-size', str(SIZE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'left out: temp (1), text_encoder (1), vision_encoder (2)' in \
        proc.stdout
    assert 'pos_embed_grid' in load_file(out)
    with open(str(tmp_path / 'out' / 'iv2.json')) as f:
        arch = json.load(f)
    model = VisionTransformer3D(
        **arch, init_cfg=dict(type='Pretrained', checkpoint=out))
    model.init_weights()
    model.double().eval()  # float64, as in test_convert_strict_load...
    source = {k[len('vision_encoder.'):]: v for k, v in sd.items()
              if k.startswith('vision_encoder.')}
    x = video().double()
    with torch.no_grad():
        assert_close(model(x), reference_forward(source, x)[0])


def test_cli_torch_checkpoint_with_prefix(tmp_path):
    src = str(tmp_path / 'ckpt.pth')
    torch.save(dict(model=multimodal_state_dict()), src)
    out = str(tmp_path / 'enc.safetensors')
    iv2.main([src, out, '--prefix', 'vision_encoder.', '--num-heads', '4',
              '--img-size', str(SIZE)])
    assert set(load_file(out)) == set(
        iv2.convert(fake_state_dict(1, False), img_size=SIZE))
    with pytest.raises(SystemExit, match=r"ckpt.pth: no text_encoder.cls"):
        iv2.main([src, out, '--prefix', 'text_encoder.', '--num-heads', '4'])
