"""InternVideoNextStage1 on tiny parts: losses, reconstruction, a real Runner."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmivnext.testing import make_demo_models
from runner_helpers import use_demo_data
from mmivnext.testing.tiny_stage1 import build, clips, tiny_model_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO_CONFIG = osp.join(
    ROOT, 'configs/ivnext/demo/ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')


def test_loss_names_and_gradients(tiny_checkpoints):
    model = build(tiny_model_cfg(tiny_checkpoints))
    losses = model.loss(clips())
    assert set(losses) == {'loss_pixel', 'loss_align',
                           'loss_align_global'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    params = dict(model.named_parameters())
    for name in ('backbone.blocks.0.attn.qkv.weight',
                 'backbone.projector.cross_attn.proj.weight',
                 'align_head.projs.0.fc1.weight', 'align_head.pos_embed',
                 'global_align_head.net.0.weight'):
        assert params[name].grad.abs().sum() > 0, name
    # The diffusion head's output layer starts at zero (AdaLN-zero), so at
    # the first step only the head itself gets gradients from the pixel loss.
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for n, p in params.items() if n.startswith('pixel_head'))


def test_tensor_mode_gives_encoder_features_of_the_whole_clip(
        tiny_checkpoints):
    model = build(tiny_model_cfg(tiny_checkpoints))
    feats = model(clips(2), mode='tensor')
    # Both requested layers, all 16 tokens plus 4 cls tokens.
    assert [f.shape for f in feats] == [(2, 20, 64)] * 2


def test_teacher_is_frozen_and_not_saved(tiny_checkpoints):
    model = build(tiny_model_cfg(tiny_checkpoints))
    model.train()
    assert not any('teacher' in name for name, _ in model.named_parameters())
    assert not any(key.startswith('teacher') for key in model.state_dict())
    # A checkpoint without the teacher loads strictly.
    other = build(tiny_model_cfg(tiny_checkpoints))
    other.load_state_dict(model.state_dict(), strict=True)


def test_table1_variants_build_and_train(tiny_checkpoints):
    base = tiny_model_cfg(tiny_checkpoints)
    variants = {
        'pixel baseline': dict(
            teacher=None, align_head=None, global_align_head=None,
            masker=dict(type='RandomMasker', mask_ratio=0.5),
            pixel_head=dict(type='LinearPixelHead')),
        'align only': dict(predictor=None, pixel_head=None),
        'mlp head': dict(pixel_head=dict(type='MLPPixelHead',
                                         hidden_dims=64)),
        'vit predictor': dict(predictor=dict(
            type='VisionTransformerPredictor', embed_dims=48, num_layers=2,
            num_heads=2)),
        'topk mask': dict(masker=dict(type='SemanticMasker', mask_ratio=0.5,
                                      mode='topk')),
        'multi-block': dict(masker=dict(type='MultiBlockMasker')),
    }
    expected = {
        'pixel baseline': {'loss_pixel'},
        'align only': {'loss_align', 'loss_align_global'},
        'mlp head': {'loss_pixel', 'loss_align', 'loss_align_global'},
        'vit predictor': {'loss_pixel', 'loss_align', 'loss_align_global'},
        'topk mask': {'loss_pixel', 'loss_align', 'loss_align_global'},
        # One student pass per mask config (Table 4 "Stage-1 Multi-block").
        'multi-block': {f'{name}_{i}' for i in (0, 1) for name in (
            'loss_pixel', 'loss_align', 'loss_align_global')},
    }
    for name, override in variants.items():
        cfg = dict(base, **override)
        if name == 'pixel baseline':
            cfg['backbone'] = dict(base['backbone'], projector_cfg=None)
        losses = build(cfg).loss(clips())
        assert set(losses) == expected[name], name
        assert all(torch.isfinite(v) for v in losses.values()), name


def test_invalid_combinations_are_refused(tiny_checkpoints):
    base = tiny_model_cfg(tiny_checkpoints)
    with pytest.raises(ValueError, match='need a teacher'):
        build(dict(base, teacher=None))
    with pytest.raises(ValueError, match='go together'):
        build(dict(base, pixel_head=None))
    # The shared arguments go to the base class, which refuses a typo.
    with pytest.raises(TypeError, match='norm_pixel_target'):
        build(dict(base, norm_pixel_target=True))
    with pytest.raises(ValueError, match='aligns 3 layers'):
        build(dict(base, align_head=dict(type='TokenAlignmentHead',
                                         num_layers=3)))


def test_sizes_come_from_the_built_parts(tiny_checkpoints):
    """Widths, grid and cls tokens are the backbone's, teacher's (32) and
    predictor's (32, or a ViT predictor's 48): one place to change."""
    base = tiny_model_cfg(tiny_checkpoints)
    model = build(base)
    assert (model.predictor.in_dims, model.predictor.grid_size,
            model.predictor.num_cls_tokens) == (64, (4, 2, 2), 4)
    assert (model.pixel_head.target_dims, model.pixel_head.cond_dims) == \
        (3 * 14 * 14, 32)
    assert (model.align_head.in_dims, model.align_head.out_dims,
            model.align_head.grid_size) == (64, 32, (4, 2, 2))
    assert (model.global_align_head.in_dims,
            model.global_align_head.out_dims) == (32, 32)
    # Another clip size and width: the config changes the backbone only.
    bigger = build(dict(base, backbone=dict(
        base['backbone'], img_size=42, num_frames=2,
        arch=dict(embed_dims=96, num_layers=2, num_heads=2,
                  feedforward_channels=128)),
        teacher=dict(base['teacher'], image_size=48),
        masker=dict(type='RandomMasker', mask_ratio=0.5)))
    assert (bigger.predictor.in_dims, bigger.predictor.grid_size) == \
        (96, (2, 3, 3))
    assert bigger.align_head.grid_size == (2, 3, 3)
    losses = bigger.loss(torch.randn(2, 3, 2, 42, 42))
    assert all(torch.isfinite(v) for v in losses.values())
    vit = build(dict(base, predictor=dict(
        type='VisionTransformerPredictor', embed_dims=48, num_layers=1,
        num_heads=2)))
    assert vit.pixel_head.cond_dims == 48
    # A size that a config gives must agree, and the error names it.
    with pytest.raises(ValueError, match=r'align_head\.out_dims=16 '
                       r'disagrees.*give 32'):
        build(dict(base, align_head=dict(type='TokenAlignmentHead',
                                         num_layers=2, out_dims=16)))
    agreeing = build(dict(base, pixel_head=dict(
        type='DiffMLPHead', width=64, depth=1, target_dims=588)))
    assert agreeing.pixel_head.target_dims == 588


def test_pixel_targets_are_channel_major_patches(tiny_checkpoints):
    model = build(tiny_model_cfg(tiny_checkpoints))
    x = clips(1)
    target = model.pixel_targets(x, torch.tensor([[0, 5]]))  # [1, 2, 588]
    # Token 5 = frame 1, row 0, column 1 of the 2 x 2 grid.
    expected = x[0, :, 1, 0:14, 14:28].reshape(-1)
    torch.testing.assert_close(target[0, 1], expected)


def test_reconstruct_keeps_visible_patches(tiny_checkpoints):
    model = build(tiny_model_cfg(tiny_checkpoints)).eval()
    x = clips(2)
    out = model.reconstruct(x, num_steps=5,
                            generator=torch.Generator().manual_seed(0))
    recon, mask = out['reconstruction'], out['mask']
    assert recon.shape == x.shape and mask.shape == (2, 4, 2, 2)
    assert (mask.flatten(2).sum(-1) == 2).all()  # ratio 0.5 of 4 per frame
    visible = ~mask.repeat_interleave(14, 2).repeat_interleave(14, 3)
    visible = visible.unsqueeze(1).expand_as(x)
    torch.testing.assert_close(recon[visible], x[visible])
    assert not torch.allclose(recon[~visible], x[~visible])
    samples = model.predict(x)
    assert samples[0].reconstruction.shape == x.shape[1:]


def test_overfitting_one_batch_lowers_the_loss(tiny_checkpoints):
    torch.manual_seed(0)
    model = build(tiny_model_cfg(tiny_checkpoints))
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=2e-3)
    x = clips(2)
    history = []
    for _ in range(30):
        loss = sum(model.loss(x).values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    assert last < 0.7 * first, history


def test_demo_config_trains_through_a_runner(demo_videos, tmp_path):
    from mmengine.runner import Runner
    demo_models = make_demo_models(str(tmp_path / 'demo_models'))
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.model.teacher.pretrained = demo_models['teacher']
    cfg.model.predictor.pretrained = demo_models['predictor']
    use_demo_data(cfg, demo_videos, num_workers=0)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    assert all(not p.requires_grad for p in model.teacher.parameters())
    optimised = {id(p) for group in runner.optim_wrapper.param_groups
                 for p in group['params']}
    assert not any(id(p) in optimised for p in model.teacher.parameters())
    checkpoint = torch.load(tmp_path / 'work_dir' / 'epoch_1.pth',
                            map_location='cpu',
                            weights_only=True)
    assert checkpoint['meta']['iter'] == 2  # 8 clips / batch 4
    assert not any(k.startswith('teacher') for k in checkpoint['state_dict'])
    assert any(k.startswith('predictor.layers') for k in
               checkpoint['state_dict'])

    # The reconstruction tool draws input / masked input / reconstruction
    # of the first clips and scores every clip's masked patches.
    import cv2
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location(
        'visualize_reconstruction',
        osp.join(ROOT, 'tools/analysis/visualize_reconstruction.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    videos = [osp.join(demo_videos['root'], 'val', f'video_0000{i}.mp4')
              for i in range(2)]
    out, metrics_out = tmp_path / 'recon.png', tmp_path / 'recon.json'
    tool.main([
        DEMO_CONFIG, str(tmp_path / 'work_dir' / 'epoch_1.pth'), *videos,
        '--out', str(out), '--num-steps', '5', '--cell-size', '32',
        '--metrics-out', str(metrics_out),
        '--cfg-options', f'model.teacher.pretrained={demo_models["teacher"]}',
        f'model.predictor.pretrained={demo_models["predictor"]}'
    ])
    image = cv2.imread(str(out))
    # 2 clips of 3 rows and a separator, 8 frames.
    assert image.shape == (2 * 3 * 32 + tool.SEPARATOR_PX, 8 * 32, 3)
    with open(metrics_out) as f:
        metrics = json.load(f)
    assert metrics['videos'] == videos
    assert len(metrics['psnr_reconstruction']) == 2
    assert metrics['num_steps'] == 5
