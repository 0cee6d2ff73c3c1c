"""tools/model_converters/internvideo_next_to_mmivnext.py.

A tiny fake InternVideo-Next encoder (release layout, and a training
checkpoint under ``module`` with predictor and decoders) is converted, loaded
strictly into ``VisionTransformer3D`` and compared with a plain-torch forward
of the source arithmetic (:mod:`mmivnext.testing.internvideo_reference`).
The Stage-2 init of a tiny authors' training checkpoint (ModernBERT predictor
included) loads strictly into our Stage-2 model, and its predictor is
compared with a plain-torch forward of the authors' predictor.
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
from mmivnext.models.utils.norm import NORM_ALIASES
from mmivnext.testing.internvideo_reference import (
    AUTHOR_HEADS, GRID, HEADS, PRED_BERT, PRED_DIMS, PRED_LAYERS, PROJ_HEADS,
    PROJ_OUT, SIZE, WIDTH, fake_state_dict, fake_training_module,
    reference_forward, reference_predictor, video)

TOOLS = osp.join(ROOT, 'tools', 'model_converters')
ivnext = load_converter('internvideo_next_to_mmivnext')
iv2 = load_converter('internvideo2_to_mmivnext')
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
    # float64: the encoder's kernels (conv3d, SDPA) and the written-out ops
    # round differently in fp32.
    model.double().eval()
    x = video().double()
    ref_tokens, ref_projected = reference_forward(sd, x)
    with torch.no_grad():
        assert_close(model(x), ref_tokens)
        model.out_type = 'projected'
        assert_close(model(x), ref_projected)


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
    model.double().eval()  # float64, as in test_convert_strict_load...
    x = video().double()
    with torch.no_grad():
        assert_close(model(x), reference_forward(checkpoint['module'], x)[0])


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


# ------------------------------------------------------- Stage-2 init
def tiny_predictor():
    """Our ``ModernBertPredictor`` matching :func:`fake_training_module`."""
    from mmivnext.models.predictors import ModernBertPredictor
    torch.manual_seed(0)
    return ModernBertPredictor(
        in_dims=WIDTH, grid_size=GRID, num_cls_tokens=4,
        num_layers=PRED_LAYERS, pretrained=PRED_BERT, init='none').eval()


def random_mask(batch=2, num_masked=11, seed=0):
    """Bool ``[B, N]`` (True: masked) and the index tensors of it."""
    g = torch.Generator().manual_seed(seed)
    n = GRID[0] * GRID[1] * GRID[2]
    order = torch.stack([torch.randperm(n, generator=g) for _ in range(batch)])
    mask = torch.zeros(batch, n, dtype=torch.bool)
    mask.scatter_(1, order[:, :num_masked], True)
    idx = torch.arange(n).expand(batch, -1)
    return mask, idx[~mask].reshape(batch, -1), idx[mask].reshape(batch, -1)


def visible_tokens(mask, seed=1):
    """Encoder output ``[B, 4 + K, C]`` for the visible positions."""
    g = torch.Generator().manual_seed(seed)
    K = int((~mask[0]).sum())
    return torch.randn(mask.shape[0], 4 + K, WIDTH, generator=g)


def sub(state_dict, prefix):
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}


@pytest.mark.parametrize('ddp', [False, True])
def test_stage2_init_mapping_and_strict_load(ddp):
    module = fake_training_module()
    src = {f'module.{k}': v for k, v in module.items()} if ddp else module
    init = ivnext.stage2_init(src, img_size=SIZE)
    assert {k.split('.')[0] for k in init} == {'backbone', 'predictor'}
    assert sub(init, 'backbone.').keys() == \
        ivnext.convert(module, img_size=SIZE).keys()
    predictor = tiny_predictor()
    result = predictor.load_state_dict(sub(init, 'predictor.'), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    table = dict(ivnext.PREDICTOR_KEYS)
    for i in range(PRED_LAYERS):
        for name in ('attn_norm.weight', 'attn.Wqkv.weight', 'attn.Wo.weight',
                     'mlp_norm.weight', 'mlp.Wi.weight', 'mlp.Wo.weight'):
            table[f'bert_decoder.layers.{i}.{name}'] = f'layers.{i}.{name}'
    ours = predictor.state_dict()
    assert set(ours) == set(table.values()) | {'pos_embed_grid'}
    for theirs, name in table.items():
        assert torch.equal(ours[name], module[theirs]), name
    assert ours['pos_embed_grid'].tolist() == list(GRID)
    arch = iv2.architecture(sub(init, 'backbone.'), num_heads=HEADS,
                            projector_heads=PROJ_HEADS, img_size=SIZE)
    backbone = VisionTransformer3D(**arch)
    result = backbone.load_state_dict(sub(init, 'backbone.'), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert ivnext.predictor_meta(init) == dict(
        in_dims=WIDTH, embed_dims=PRED_DIMS, grid_size=list(GRID),
        num_cls_tokens=4, num_layers=PRED_LAYERS)


def test_stage2_init_leaves_out_only_the_listed_parts():
    module = fake_training_module()
    init = ivnext.stage2_init(module, img_size=SIZE)
    mapped = set(ivnext.PREDICTOR_KEYS) | {
        k for k in module if k.startswith('bert_decoder.layers.')}
    encoder, _ = iv2.split(module)
    left_out = set(module) - mapped - set(encoder)
    assert left_out == set(AUTHOR_HEADS) | {
        'clip_pos_embed', 'bert_decoder.embeddings.tok_embeddings.weight',
        'bert_decoder.embeddings.norm.weight', 'bert_decoder.final_norm.weight'}
    assert len(init) == len(encoder) + 1 + len(mapped) + 1  # + 2 grids


@pytest.mark.parametrize('num_masked', [11, 0])
def test_stage2_init_predictor_matches_the_authors_forward(num_masked):
    """Our predictor with the converted weights computes the authors'
    ``forward_reconstruction_loss`` predictor arithmetic."""
    module = fake_training_module()
    predictor = tiny_predictor()
    predictor.load_state_dict(
        sub(ivnext.stage2_init(module, img_size=SIZE), 'predictor.'))
    mask, vis, msk = random_mask(num_masked=num_masked)
    tokens = visible_tokens(mask)
    # fp32 (the predictor's RoPE is float32 by design): outputs of scale ~5
    # lie a few eps (1.2e-7) of it, ~1e-6, from the float64 result.
    with torch.no_grad():
        expected = reference_predictor(module, tokens, mask)  # [B, 20, D]
        assert expected.shape == (2, 4 + 16, PRED_DIMS)
        assert_close(predictor(tokens, vis, msk), expected,
                     rtol=1e-5, atol=1e-5)
        if num_masked:
            assert_close(predictor(tokens, vis, msk, masked_only=True),
                         expected[:, 4:][mask].reshape(2, num_masked, -1),
                         rtol=1e-5, atol=1e-5)


def test_stage2_init_errors():
    release = fake_state_dict(num_cls=4, norm_before=True)
    with pytest.raises(ValueError, match=r'no bert_mask_token, .*'
                       r'bert_decoder\.layers\.\*: not a training checkpoint'):
        ivnext.stage2_init(release, img_size=SIZE)
    module = fake_training_module()
    module['predictor_extra.weight'] = torch.ones(1)
    with pytest.raises(ValueError, match=r'1 entries .*: '
                       r'predictor_extra\.weight$'):
        ivnext.stage2_init(module, img_size=SIZE)
    module = fake_training_module()
    module['bert_decoder.layers.7.mlp.Wo.weight'] = \
        module.pop('bert_decoder.layers.4.mlp.Wo.weight')
    with pytest.raises(ValueError, match=r'numbered \[0, 1, 2, 3, 4, 7\]'):
        ivnext.stage2_init(module, img_size=SIZE)
    module = fake_training_module()
    module['diff_pos_embed'] = module['diff_pos_embed'][:, :-1]
    with pytest.raises(ValueError, match=r'diff_pos_embed has shape '
                       r'\(1, 19, 64\), expected \(1, 20, 64\)'):
        ivnext.stage2_init(module, img_size=SIZE)
    module = fake_training_module()
    module['to_bert_proj.head.2.weight'] = \
        module['to_bert_proj.head.2.weight'].T.contiguous()
    with pytest.raises(ValueError, match=r'to_bert_proj\.head\.2\.weight'):
        ivnext.stage2_init(module, img_size=SIZE)


def stage2_model(init, arch):
    """Our Stage-2 model started from ``init`` as the configs do: student
    and predictor by ``init_checkpoint``, the frozen teacher by
    ``checkpoint``."""
    from mmengine.registry import DefaultScope

    from mmivnext.registry import MODELS
    encoder = dict(arch, type='VisionTransformer3D', out_type='raw',
                   out_indices=-1)
    cfg = dict(
        type='InternVideoNextStage2', backbone=encoder,
        teacher=dict(type='FrozenVideoTeacher', backbone=encoder,
                     checkpoint=init),
        masker=dict(type='MultiBlockMasker'),
        predictor=dict(type='ModernBertPredictor', in_dims=WIDTH,
                       grid_size=GRID, num_cls_tokens=4,
                       num_layers=PRED_LAYERS, pretrained=PRED_BERT,
                       init='none'),
        head=dict(type='LatentPredictionHead', in_dims=PRED_DIMS,
                  out_dims=WIDTH),
        init_checkpoint=init)
    with DefaultScope.overwrite_default_scope('mmivnext'):
        model = MODELS.build(cfg)
    model.init_weights()  # strict: missing / unexpected keys raise
    return model.eval()


def test_cli_stage2_init_end_to_end(tmp_path):
    """Training checkpoint (.pth) -> CLI with --stage2-init -> our Stage-2
    model: student, teacher and predictor compute the authors' forwards."""
    src = str(tmp_path / 'checkpoint-99.pth')
    module = fake_training_module()
    torch.save(dict(module=module, optimizer=dict(state={}), epoch=3), src)
    out = str(tmp_path / 'out' / 'ivnext.safetensors')
    init = str(tmp_path / 'init' / 'stage2_init.pth')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'internvideo_next_to_mmivnext.py'),
         src, out, '--stage2-init', init, '--num-heads', str(HEADS),
         '--projector-heads', str(PROJ_HEADS), '--img-size', str(SIZE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'num_layers={PRED_LAYERS}' in proc.stdout
    checkpoint = torch.load(init, map_location='cpu', weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    assert checkpoint['meta']['converter'] == 'internvideo_next_to_mmivnext'
    assert checkpoint['meta']['source'] == src
    assert checkpoint['meta']['predictor']['num_layers'] == PRED_LAYERS
    with open(str(tmp_path / 'out' / 'ivnext.json')) as f:
        arch = json.load(f)
    assert checkpoint['meta']['encoder_architecture'] == arch
    model = stage2_model(init, arch)
    mask, vis, msk = random_mask()
    tokens = visible_tokens(mask)
    x = video()
    ref_tokens = reference_forward(module, x)[0]
    # fp32 (the predictor's RoPE and the teacher are float32 by design):
    # outputs of scale ~5 lie a few eps (1.2e-7) of it, ~1e-6, from the
    # float64 results.
    with torch.no_grad():
        assert_close(model.predictor(tokens, vis, msk),
                     reference_predictor(module, tokens, mask),
                     rtol=1e-5, atol=1e-5)
        assert_close(model.backbone(x), ref_tokens, rtol=1e-5, atol=1e-5)
        assert_close(model.teacher.targets(x),
                     torch.nn.functional.normalize(ref_tokens[:, 4:], dim=-1),
                     rtol=1e-5, atol=1e-5)


def test_cli_stage2_init_of_a_release_fails(tmp_path):
    src = str(tmp_path / 'model.safetensors')
    save_file(fake_state_dict(num_cls=4, norm_before=True), src)
    out = str(tmp_path / 'enc.safetensors')
    with pytest.raises(SystemExit, match=r'model.safetensors: no '
                       r'bert_mask_token.*a release file holds the encoder'):
        ivnext.main([src, out, '--stage2-init', str(tmp_path / 'init.pth'),
                     '--num-heads', '4', '--img-size', str(SIZE)])
    assert os.listdir(tmp_path) == ['model.safetensors']  # nothing written
