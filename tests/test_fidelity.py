"""Every recipe number of docs/fidelity.md, asserted on the resolved configs.

Each assertion names its row of docs/fidelity.md (the table says where the
number comes from: the paper or the authors' released code).
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmivnext  # noqa: F401
from mmivnext.models.maskers import num_visible_tokens

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = osp.join(ROOT, 'docs', 'fidelity.md')

S1 = dict(stage=1, lr_per_256=1e-3, min_ratio=1e-2, epochs=50, warmup=5,
          mask_ratio=0.8, kept=52)
S2 = dict(stage=2, lr_per_256=1e-4, min_ratio=1e-1, epochs=100, warmup=0)
#: Hidden sizes of the SigLIP2 teachers (their config.json).
SIGLIP2_WIDTHS = {'google/siglip2-giant-opt-patch16-256': 1536,
                  'google/siglip2-large-patch16-256': 1024}
VITB_LAYERS = (23, 26, 30, 33, 36, 39)
VITL_LAYERS = (31, 33, 34, 36, 38, 39)
#: config -> the recipe it must resolve to.
RECIPES = {
    'ivnext/stage1_vitb.py': dict(S1, batch=2048, width=768,
                                  teacher_layers=VITB_LAYERS, teacher_dims=1536),
    'ivnext/stage1_vitl.py': dict(S1, batch=2048, width=1024,
                                  teacher_layers=VITL_LAYERS, teacher_dims=1536),
    'ivnext/'
    'ivnext-stage1-authors-script_vit-base-p14_64xb32-16x1x1-62e_k710.py': dict(
        S1, batch=2048, width=768, teacher_layers=VITB_LAYERS,
        teacher_dims=1536, epochs=62, warmup=7, mask_ratio=0.75, kept=64),
    'ivnext/'
    'ivnext-stage1-authors-script_vit-large-p14_64xb32-16x1x1-62e_k710.py': dict(
        S1, batch=2048, width=1024, teacher_layers=VITL_LAYERS,
        teacher_dims=1536, epochs=62, warmup=7, mask_ratio=0.75, kept=64),
    'ivnext/scale_out/'
    'ivnext-stage1-fsdp_vit-large-p14_64xb32-16x1x1-50e_k710.py': dict(
        S1, batch=2048, width=1024, teacher_layers=VITL_LAYERS,
        teacher_dims=1536),
    'ivnext/scale_out/'
    'ivnext-stage1-deepspeed-zero2_vit-large-p14_64xb32-16x1x1-50e_k710.py': dict(
        S1, batch=2048, width=1024, teacher_layers=VITL_LAYERS,
        teacher_dims=1536),
    'ivnext/scale_out/'
    'ivnext-stage1-deepspeed-zero3_vit-large-p14_64xb32-16x1x1-50e_k710.py': dict(
        S1, batch=2048, width=1024, teacher_layers=VITL_LAYERS,
        teacher_dims=1536),
    'ivnext/scale_out/'
    'ivnext-stage1-fsdp_vit-1b-p14_64xb32-16x1x1-50e_k710.py': dict(
        S1, batch=2048, width=1408, teacher_layers=VITL_LAYERS,
        teacher_dims=1536),
    'ivnext/ablations/'
    'ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py': dict(
        S1, batch=1024, width=768, epochs=30,
        teacher_layers=(-6, -5, -4, -3, -2, -1), teacher_dims=1024),
    'ivnext/stage2_vitb.py': dict(S2, batch=2048, width=768, frames=32),
    'ivnext/stage2_vitl.py': dict(S2, batch=1024, width=1024, frames=32),
    'ivnext/'
    'ivnext-stage2-authors-script_vit-base-p14_64xb28-32x1x1-101e_k710.py': dict(
        S2, batch=1792, width=768, frames=32, epochs=101),
    'ivnext/'
    'ivnext-stage2-authors-script_vit-large-p14_64xb16-32x1x1-101e_k710.py': dict(
        S2, batch=1024, width=1024, frames=32, epochs=101),
    'ivnext/ablations/'
    'ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py': dict(
        S2, batch=1024, width=768, frames=8, epochs=30),
}


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def student_width(backbone):
    """The width of a ``VisionTransformer3D`` config's ``arch``."""
    from mmivnext.models.backbones import VisionTransformer3D
    return VisionTransformer3D.arch_zoo[backbone.arch]['embed_dims']


def sizes_left_to_the_algorithm(part, *keys):
    """True if the config leaves ``keys`` to the algorithm, which sets them
    from the built parts (``with_sizes``)."""
    return all(part.get(key) is None for key in keys)


def doc_rows():
    rows = set()
    for line in open(DOC):
        if line.startswith('| `'):
            rows.add(line.split('`')[1])
    return rows


def row(name):
    """The row name for an assertion message; it must exist in the doc."""
    assert name in doc_rows(), f'docs/fidelity.md has no row {name!r}'
    return f'docs/fidelity.md row {name!r}'


def optimizer_of(cfg):
    optim = cfg.optim_wrapper
    return optim.optimizer


def clip_of(cfg):
    if cfg.get('strategy', {}).get('type') == 'DeepSpeedStrategy':
        return cfg.strategy.gradient_clipping
    return cfg.optim_wrapper.clip_grad.max_norm


def check_crop_and_resize(cfg):
    pipeline = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    index = pipeline.index('mmaction.MultiScaleCrop')
    crop, resize = cfg.train_dataloader.dataset.pipeline[index:index + 2]
    assert crop.get('num_fixed_crops') == 13, row('multiscale-crop')
    assert tuple(crop.scales) == (1, 0.875, 0.75, 0.66), \
        row('multiscale-crop')
    assert (resize.type, resize.backend) == ('mmivnext.Resize', 'pillow'), \
        row('crop-resize')


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_optimisation_rows(name):
    cfg, want = load(name), RECIPES[name]
    opt = optimizer_of(cfg)
    peak = want['lr_per_256'] * want['batch'] / 256
    assert cfg.auto_scale_lr.base_batch_size == want['batch'], row('batch')
    assert opt.lr == pytest.approx(peak, rel=1e-12), row('lr-peak')
    assert (opt.type, tuple(opt.betas), opt.eps) == (
        'AdamW', (0.9, 0.98), 1e-6), row('optimizer')
    assert opt.weight_decay == 0.05, row('weight-decay')
    assert clip_of(cfg) == 5.0, row('grad-clip')
    assert cfg.train_cfg.max_epochs == want['epochs'], row('epochs')
    *warmup, cosine = cfg.param_scheduler
    assert cosine.type == 'CosineAnnealingLR', row('schedule')
    assert cosine.convert_to_iter_based, row('schedule')
    assert (cosine.begin, cosine.end) == (want['warmup'],
                                          want['epochs']), row('epochs')
    assert cosine.T_max == want['epochs'] - want['warmup'], row('epochs')
    assert cosine.get('eta_min') is None, row('lr-min')
    assert cosine.eta_min_ratio == pytest.approx(want['min_ratio']), \
        row('lr-min')
    if want['warmup']:
        (linear, ) = warmup
        assert (linear.type, linear.begin, linear.end) == (
            'LinearLR', 0, want['warmup']), row('epochs')
        assert linear.start_factor == 1e-3, row('lr-warmup-start')
    else:
        assert not warmup, row('epochs')
    paramwise = cfg.optim_wrapper.get('paramwise_cfg')
    assert paramwise.norm_decay_mult == paramwise.bias_decay_mult == \
        paramwise.flat_decay_mult == 0.0, row('wd-exclusions')
    assert {k: v.decay_mult for k, v in paramwise.custom_keys.items()} == {
        'backbone.pos_embed': 0.0, 'backbone.cls_token': 0.0,
        'align_head.pos_embed': 0.0}, row('wd-exclusions')
    assert not any('lr_mult' in v for v in paramwise.custom_keys.values()), \
        row('modernbert-lr-scale')


@pytest.mark.parametrize('name', sorted(n for n in RECIPES
                                        if RECIPES[n]['stage'] == 1))
def test_stage1_rows(name):
    cfg, want = load(name), RECIPES[name]
    model = cfg.model
    assert model.masker.type == 'SemanticMasker', row('mask-sampling')
    assert model.masker.mode == 'sample', row('mask-sampling')
    assert model.masker.mask_ratio == want['mask_ratio'], row('mask-ratio')
    assert num_visible_tokens(16 * 16, model.masker.mask_ratio) == \
        want['kept'], row('mask-kept-count')
    assert tuple(model.teacher.layers) == want['teacher_layers'], \
        row('teacher-layers')
    assert model.teacher.image_size == 256, row('teacher')
    assert model.teacher.get('antialias', False) is False, \
        row('teacher-resize')
    assert tuple(model.backbone.out_indices) == tuple(range(-6, 0)), \
        row('student-layers')
    # The heads' widths and grid come from the built student and teacher
    # (tests/test_models/test_selfsup/test_stage1.py): the student's width
    # and the teacher's are those of the recipe.
    assert student_width(model.backbone) == want['width'], \
        row('token-align-head')
    assert SIGLIP2_WIDTHS[model.teacher.pretrained] == want['teacher_dims'], \
        row('token-align-head')
    align = model.align_head
    assert (align.type, align.num_layers) == ('TokenAlignmentHead', 6), \
        row('token-align-head')
    assert sizes_left_to_the_algorithm(align, 'in_dims', 'out_dims',
                                       'grid_size'), row('token-align-head')
    assert align.get('hidden_dims') is None, row('token-align-head')
    assert model.backbone.projector_cfg.out_dims == 768, \
        row('global-align-head')
    glob = model.global_align_head
    assert glob.type == 'LatentPredictionHead', row('global-align-head')
    assert sizes_left_to_the_algorithm(glob, 'in_dims', 'out_dims'), \
        row('global-align-head')
    assert glob.loss.normalize_target is False, row('global-align-target')
    pixel = model.pixel_head
    assert pixel.loss.diffusion_batch_mul == 1, row('diffusion-batch-mul')
    for loss in (pixel.loss, glob.loss, align.get('loss', {})):
        assert loss.get('loss_weight', 1.0) == 1.0, row('loss-weights')
    assert (pixel.depth, pixel.width) == (6, 1536), row('diffusion-head')
    assert model.get('norm_pixel_targets', False) is False, \
        row('pixel-targets')
    assert (model.predictor.num_layers, model.predictor.init) == (
        5, 'pretrained'), row('predictor')
    assert (model.backbone.num_frames, model.backbone.img_size) == (16, 224), \
        row('pos-embed-frames')
    assert sizes_left_to_the_algorithm(
        model.predictor, 'in_dims', 'grid_size', 'num_cls_tokens'), \
        row('pos-embed-frames')
    if 'vitl' in name or 'vit-large' in name:
        assert model.backbone.arch == 'large', row('vitl-script-model')
    check_crop_and_resize(cfg)


@pytest.mark.parametrize('name', sorted(n for n in RECIPES
                                        if RECIPES[n]['stage'] == 2))
def test_stage2_rows(name):
    cfg, want = load(name), RECIPES[name]
    model = cfg.model
    masker = model.masker
    assert masker.context_keep == 'first', row('s2-context-cap')
    cap = int(400 * want['frames'] / 8)
    blocks = [(c.num_blocks, tuple(c.spatial_scale), tuple(c.aspect_ratio),
               tuple(c.temporal_scale), c.max_visible)
              for c in masker.mask_cfgs]
    assert blocks == [(8, (0.15, 0.15), (0.75, 1.5), (1.0, 1.0), cap),
                      (2, (0.7, 0.7), (0.75, 1.5), (1.0, 1.0), cap)], \
        row('s2-masks') + ' / ' + row('s2-context-cap')
    check_crop_and_resize(cfg)
    clip = cfg.train_dataloader.dataset.pipeline[1]
    assert clip.clip_len == want['frames'], row('s2-context-cap')
    assert model.teacher.type == 'FrozenVideoTeacher', row('s2-teacher')
    assert model.teacher.checkpoint == model.init_checkpoint, row('s2-init')
    head = model.head
    # In: the predictor's width (ModernBERT-Large, 1024); out: the teacher's,
    # the Stage-1 encoder of the student's size.
    assert head.type == 'LatentPredictionHead', row('s2-targets')
    assert sizes_left_to_the_algorithm(head, 'in_dims', 'out_dims'), \
        row('s2-targets')
    assert student_width(model.teacher.backbone) == want['width'], \
        row('s2-targets')
    assert head.get('loss', {}).get('normalize_target', True), \
        row('s2-targets')
    for part in (model.backbone, model.teacher.backbone):
        assert part.num_frames == 16, row('pos-embed-frames')
        assert part.projector_cfg.out_dims == 768, row('global-align-head')
    assert sizes_left_to_the_algorithm(
        model.predictor, 'in_dims', 'grid_size', 'num_cls_tokens'), \
        row('pos-embed-frames')


def test_every_doc_row_is_asserted():
    """Each row of the doc is named by an assertion of this file (or is a
    statement of equality that needs no number)."""
    source = open(__file__).read()
    unasserted = {r for r in doc_rows() if f"row('{r}')" not in source}
    elsewhere = {
        # Statements of equality, or tested where the behaviour lives:
        'precision', 'non-finite-loss', 'sampling', 'normalisation',
        'teacher',
        'flip',  # tests/test_datasets (the pretraining pipelines)
        # test_losses_per_mask_config, tests/test_models/test_selfsup:
        's2-projector',
    }
    assert unasserted <= elsewhere, unasserted


def _authors_decays(model):
    """The authors' rule (optim_factory.get_parameter_groups with
    no_weight_decay()), applied to our parameter names."""
    skip = {'backbone.pos_embed', 'backbone.cls_token',
            'align_head.pos_embed'}
    return {n: 0.0 if p.ndim == 1 or n.endswith('.bias') or n in skip
            else 0.05 for n, p in model.named_parameters()
            if p.requires_grad}


def test_weight_decay_groups_follow_the_authors(tiny_checkpoints):
    from mmivnext.testing.tiny_stage1 import build, tiny_model_cfg
    model = build(tiny_model_cfg(tiny_checkpoints))
    cfg = load('ivnext/stage1_vitb.py')
    optim_cfg = dict(cfg.optim_wrapper.to_dict(), type='OptimWrapper')
    optim_cfg['optimizer'] = dict(optim_cfg['optimizer'], fused=False)
    optim_cfg.pop('dtype')
    with DefaultScope.overwrite_default_scope('mmivnext'):
        wrapper = build_optim_wrapper(model, optim_cfg)
    ours = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            if p.requires_grad:
                ours[names[id(p)]] = group['weight_decay']
    expected = _authors_decays(model)
    assert ours == expected, row('wd-exclusions')
    # The rule is not vacuous: the predictor's table and mask token decay.
    assert ours['predictor.pos_embed'] == ours['predictor.mask_token'] == 0.05
    assert ours['align_head.pos_embed'] == 0.0


def test_teacher_layer_formula():
    """The authors' `depth - int(i * interval) - 1` for the scripts'
    intervals (models/siglip_teacher.py) gives the configured layers."""
    for interval, layers in ((3.33, VITB_LAYERS), (1.67, VITL_LAYERS)):
        got = tuple(sorted(40 - int(i * interval) - 1 for i in range(6)))
        assert got == layers, row('teacher-layers')


def test_stage1_vitb_exports_the_released_layout():
    """A Stage-1 ViT-B of ours exports an encoder with the keys and shapes
    of the released revliter/internvideo_next_base_p14_res224_f16, projector
    included (both on the meta device: nothing is downloaded)."""
    from script_helpers import load_converter
    from mmivnext.registry import MODELS
    from mmivnext.testing.zoo_layouts import checkpoint_of
    cfg = load('ivnext/stage1_vitb.py')
    with torch.device('meta'), \
            DefaultScope.overwrite_default_scope('mmivnext'):
        backbone = MODELS.build(cfg.model.backbone)
    exported = load_converter('export_encoder').convert(
        {f'backbone.{k}': v for k, v in backbone.state_dict().items()})
    release = checkpoint_of('internvideo_next', dict(
        width=768, depth=12, mlp=3072, frames=16, size=224, proj_out=768),
        device='meta')
    converted = load_converter('internvideo_next_to_mmivnext').convert(
        release)
    assert {k: tuple(v.shape) for k, v in exported.items()} == \
        {k: tuple(v.shape) for k, v in converted.items()}, \
        row('global-align-head')


def test_part_rows():
    """Rows about a part's arithmetic, on tiny parts."""
    from mmivnext.models.heads import DiffMLPHead, TokenAlignmentHead
    head = DiffMLPHead(target_dims=12, cond_dims=8, width=16, depth=2)
    for block in head.blocks:
        assert block.norm.elementwise_affine, row('diffusion-block-norm')
    assert not head.final_layer.norm.elementwise_affine, \
        row('diffusion-block-norm')
    # Student layer i reaches output i only.
    align = TokenAlignmentHead(in_dims=16, out_dims=8, grid_size=(1, 2, 2),
                               num_layers=3)
    visible = torch.tensor([[0, 3]])
    layers = [torch.randn(1, 2, 16) for _ in range(3)]
    before = align(layers, visible)
    layers[1] = layers[1] + 1.0
    after = align(layers, visible)
    for i in range(3):
        assert torch.equal(before[i], after[i]) == (i != 1), \
            row('token-align-layer-pairing')
