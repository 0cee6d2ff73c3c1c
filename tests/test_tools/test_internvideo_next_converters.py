"""tools/model_converters/internvideo_next_to_mmivnext.py.

A tiny fake InternVideo-Next encoder (release layout, and a training
checkpoint under ``module`` with predictor and decoders) is converted, loaded
strictly into ``VisionTransformer3D`` and compared with a plain-torch forward
of the source arithmetic (:mod:`internvideo_helpers`).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from internvideo_helpers import (HEADS, PROJ_HEADS, PROJ_OUT, ROOT, SIZE,
                                 TOOLS, WIDTH, fake_state_dict, load_tool,
                                 reference_forward, video)
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.utils.norm import NORM_ALIASES

ivnext = load_tool('internvideo_next_to_mmivnext')
iv2 = load_tool('internvideo2_to_mmivnext')
TRAINING_EXTRAS = ('clip_pos_embed', 'diff_pos_embed', 'bert_mask_token',
                   'to_bert_proj.head.0.weight',
                   'selfdist_decoder.norm.weight',
                   'bert_decoder.layers.0.attn.Wqkv.weight')


def training_checkpoint():
    """A training checkpoint of the authors' code: weights under ``module``,
    with training-only entries, and an optimizer."""
    module = fake_state_dict(num_cls=4, norm_before=True)
    for i, key in enumerate(TRAINING_EXTRAS):
        module[key] = torch.full((3, i + 1), float(i))
    return dict(module=module, optimizer=dict(state={}), epoch=3)


def test_convert_strict_load_and_forward():
    sd = fake_state_dict(num_cls=4, norm_before=True)
    out = ivnext.convert(sd, img_size=SIZE)
    assert 'patch_embed.pixel_norm.weight' in out
    assert 'projector.cross_attn.q.bias' in out
    assert out['pos_embed_grid'].tolist() == [4, 2, 2]
    arch = iv2.architecture(out, num_heads=HEADS, projector_heads=PROJ_HEADS,
                            img_size=SIZE)
    assert arch['num_cls_tokens'] == 4 and arch['num_frames'] == 4
    assert arch['arch'] == dict(embed_dims=WIDTH, num_layers=2,
                                num_heads=HEADS, feedforward_channels=256)
    assert arch['projector_cfg']['out_dims'] == PROJ_OUT
    model = VisionTransformer3D(**arch)
    result = model.load_state_dict(out, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    ref_tokens, ref_projected = reference_forward(sd, video())
    with torch.no_grad():
        assert_close(model(video()), ref_tokens, rtol=1e-5, atol=1e-5)
        model.out_type = 'projected'
        assert_close(model(video()), ref_projected, rtol=1e-5, atol=1e-5)


def test_architecture_of_the_release_is_released_cfg():
    with torch.device('meta'):
        released = VisionTransformer3D.released(arch='base')
    state_dict = dict(released.state_dict(),
                      pos_embed_grid=torch.tensor([16, 16, 16]))
    arch = iv2.architecture(state_dict)
    assert arch['arch'] == 'base' and arch['num_frames'] == 16
    assert arch['img_size'] == 224
    for key, value in VisionTransformer3D.RELEASED_CFG.items():
        value = NORM_ALIASES.get(value, value) if isinstance(value, str) \
            else value
        assert arch[key] == value, key


def test_training_parts_and_prefix():
    checkpoint = training_checkpoint()
    ddp = {f'module.{k}': v for k, v in checkpoint['module'].items()}
    out = ivnext.convert(ddp, img_size=SIZE)
    assert set(out) == set(ivnext.convert(checkpoint['module'],
                                          img_size=SIZE))
    rest = ivnext.training_parts(checkpoint['module'])
    assert list(rest) == list(TRAINING_EXTRAS)


def test_convert_errors():
    internvideo2 = fake_state_dict(num_cls=1, norm_before=False)
    with pytest.raises(ValueError, match='no patch_embed.norm_before.weight'):
        ivnext.convert(internvideo2)
    with pytest.raises(ValueError, match=r'16 patch rows .* img_size 42'):
        ivnext.convert(fake_state_dict(4, True), img_size=42)
    with pytest.raises(ValueError, match=r"no cls_token.*\['text'\]"):
        ivnext.convert({'text.w': torch.ones(1)})
    out = ivnext.convert(fake_state_dict(4, True), img_size=SIZE)
    with pytest.raises(ValueError, match='width 64; give num_heads'):
        iv2.architecture(out, img_size=SIZE)


def test_cli_training_checkpoint_end_to_end(tmp_path):
    """Training checkpoint (.pth) -> CLI as users run it -> JSON +
    Pretrained -> the source encoder's forward; training parts kept."""
    src = str(tmp_path / 'checkpoint-99.pth')
    checkpoint = training_checkpoint()
    torch.save(checkpoint, src)
    out = str(tmp_path / 'out' / 'ivnext.safetensors')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'internvideo_next_to_mmivnext.py'),
         src, out, '--keep-training', '--num-heads', str(HEADS),
         '--projector-heads', str(PROJ_HEADS), '--img-size', str(SIZE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'bert_decoder (1)' in proc.stdout
    training = load_file(str(tmp_path / 'out' / 'ivnext.training.safetensors'))
    assert set(training) == set(TRAINING_EXTRAS)
    assert torch.equal(training['bert_mask_token'],
                       checkpoint['module']['bert_mask_token'])
    with open(str(tmp_path / 'out' / 'ivnext.json')) as f:
        arch = json.load(f)
    model = VisionTransformer3D(
        **arch, init_cfg=dict(type='Pretrained', checkpoint=out))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        assert_close(model(video()),
                     reference_forward(checkpoint['module'], video())[0],
                     rtol=1e-5, atol=1e-5)


def test_cli_release_safetensors(tmp_path):
    src = str(tmp_path / 'model.safetensors')
    save_file(fake_state_dict(num_cls=4, norm_before=True), src)
    out = str(tmp_path / 'enc.safetensors')
    outputs = ivnext.main([src, out, '--keep-training', '--num-heads', '4',
                           '--img-size', str(SIZE)])
    assert outputs == (out, str(tmp_path / 'enc.json'))  # nothing to keep
    assert sorted(os.listdir(tmp_path)) == ['enc.json', 'enc.safetensors',
                                            'model.safetensors']
    with pytest.raises(SystemExit, match='must end with .safetensors'):
        ivnext.main([src, str(tmp_path / 'enc.pth')])
    with pytest.raises(SystemExit, match='missing.pth: no such file'):
        ivnext.main([str(tmp_path / 'missing.pth'), out])
    with pytest.raises(SystemExit, match=r'model.safetensors: .*width 64'):
        ivnext.main([src, out, '--img-size', str(SIZE)])
