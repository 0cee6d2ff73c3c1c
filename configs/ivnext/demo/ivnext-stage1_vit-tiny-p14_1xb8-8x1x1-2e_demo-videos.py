# A tiny Stage-1 run on the demo videos that a CPU trains in a few minutes
# (the README's main command, tools/demo.sh): the full Stage-1 recipe - frozen
# SigLIP teacher, semantic masking, encoder on visible tokens, ModernBERT
# predictor layers, diffusion decoder, token + global alignment - at tiny
# size. The teacher and the predictor are random tiny checkpoints written by
# `python tools/data/make_demo_models.py` to data/demo_models: the loss falls
# as the student learns to reconstruct pixels and to match that teacher.
# It inherits the Stage-1 recipe (docs/fidelity.md) and overrides only sizes
# and the schedule (length and learning rate), each marked below.
_base_ = [
    '../../_base_/models/ivnext-stage1_vit-base-p14.py',
    '../../_base_/datasets/demo_videos.py',
    '../../_base_/schedules/adamw_cosine-warmup5_50e.py',
    '../../_base_/default_runtime.py',
]

num_frames = 8
img_size = 56  # 4 x 4 patches of 14 px; the teacher sees 64 px, 4 x 4 x 16 px
embed_dims = 96
align_layers = 2

# Sizes: a 96-wide, 4-layer student on 8 x 56 px clips (position tables of
# the clip's 8 frames), the tiny demo teacher (2 aligned layers of width 64,
# 64 px input) and a 3-layer tiny ModernBERT predictor (width 64); the
# algorithm sizes the predictor and the heads from them.
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=4 * embed_dims),
        img_size=img_size,
        num_frames=num_frames,
        # Size: no drop path in a 4-layer encoder (the recipe's 0.1 / 0.2 are
        # for 12 / 24 layers).
        drop_path_rate=0.0,
        # Size: a 64-wide projector instead of 768.
        projector_cfg=dict(num_heads=4, out_dims=64),
        out_indices=tuple(range(-align_layers, 0))),
    teacher=dict(
        pretrained='data/demo_models/siglip_tiny',
        layers=tuple(range(-align_layers, 0)),
        image_size=64),
    predictor=dict(
        num_layers=3, pretrained='data/demo_models/modernbert_tiny'),
    # Size: 2 residual blocks of width 640 (the recipe: 6 of 1536). The
    # width stays above the 588 values of a 14 x 14 RGB patch, as in the
    # recipe: a 128-wide head cannot denoise them and its loss stays near 1.4
    # (docs/demo.md).
    pixel_head=dict(
        width=640, depth=2,
        # Sampling only (not training): keep samples of the briefly trained
        # head in the range of the normalised pixels (about [-2.2, 2.7]) for
        # the reconstruction image.
        clip_denoised=3.0),
    align_head=dict(num_layers=align_layers))

train_dataloader = dict(batch_size=8, num_workers=2)

# Schedule: 2 epochs of the 960 demo clips (240 steps), 1 warmup epoch, and
# lr 1e-3 at batch 8 (the per-256 rule would give 3e-5, far too slow for a few
# hundred steps).
max_epochs = 2
warmup_epochs = 1
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min_ratio=1e-2, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=1, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=8)

# Representation monitor (mmivnext.RepresentationMonitorHook): every 40
# iterations, kNN and linear-probe top-1 and collapse statistics (feature
# std, effective rank) of the encoder on the first 96 labelled val clips (8
# per class), in the log and vis_data/scalars.json. A check costs 0.7 to 1.3
# train steps, 2 to 3 % of the 40 steps it follows (docs/benchmarks.md).
custom_hooks = [
    dict(
        type='mmivnext.RepresentationMonitorHook',
        interval=40,
        num_samples=96,
        dataset=dict(
            type={{_base_.dataset_type}},
            ann_file={{_base_.ann_file_val}},
            data_prefix=dict(video={{_base_.data_root_val}}),
            pipeline={{_base_.val_pipeline}},
            test_mode=True)),
]
