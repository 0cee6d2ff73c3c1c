# Anticipation probe on the synthetic EK100 look-alike, small enough for a CPU:
# the tiny demo encoder and predictor of tools/demo.sh's Stage 2 (4 layers of
# width 96, 3 tiny ModernBERT layers of width 64, so the predicted tokens go
# through a trained Linear(64, 96)), 8-frame contexts at 4 fps (2 s) ending
# 1 s before each action, 56 px. Checks that the data, the probe, the focal
# losses and the class-mean recall run end to end; the figures say nothing
# about InternVideo-Next.
#
#   bash tools/demo.sh                                  # Stage-2 demo model
#   python tools/data/make_synthetic_ek100.py           # data/synthetic_ek100
#   python tools/train.py THIS_CONFIG
#   python tools/test.py THIS_CONFIG work_dirs/<config name>/epoch_10.pth
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/anticipation-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/ek100_anticipation_32f8fps.py',
    '../../_base_/schedules/anticipation-probe_adamw_cosine_20e.py',
]
default_scope = 'mmivnext'

data_root = 'data/synthetic_ek100'
stage2_checkpoint = 'work_dirs/demo/stage2/epoch_10.pth'  # tools/demo.sh
num_frames = 8
fps = 4.0
img_size = 56  # 4 x 4 patches of 14 px
embed_dims = 96
num_layers = 4

# The demo's Stage-2 encoder and predictor
# (configs/ivnext/demo/ivnext-stage2_vit-tiny-p14_1xb8-16x1x1-1e_demo-videos.py).
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims,
                  num_layers=num_layers, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=img_size,
        num_frames=num_frames,
        projector_cfg=dict(num_heads=4, out_dims=64),
        frozen_stages=num_layers,
        init_cfg=dict(checkpoint=stage2_checkpoint)),
    predictor=dict(
        in_dims=embed_dims,
        grid_size=(16, 4, 4),
        num_layers=3,
        pretrained='data/demo_models/modernbert_tiny'),
    predictor_checkpoint=stage2_checkpoint,
    future_proj='linear',
    head=dict(in_channels=embed_dims, num_verbs=4, num_nouns=3,
              num_actions=12, num_heads=4, num_self_attn_blocks=1))

# The verb is the direction of motion: no flip, no crop that could cut the
# shape out.
pack = dict(
    type='mmaction.PackActionInputs',
    algorithm_keys=('gt_verb', 'gt_noun', 'gt_action'),
    meta_keys=('narration_id', 'video_id'))
pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='SampleFramesByTime'),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(img_size, img_size),
         keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    pack,
]
dataset = dict(
    data_prefix=dict(video=data_root + '/videos'),
    action_map_file=data_root + '/actions.csv',
    num_frames=num_frames,
    fps=fps,
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, ann_file=data_root + '/EPIC_100_train.csv'))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, ann_file=data_root + '/EPIC_100_validation.csv'))
test_dataloader = val_dataloader
# Few classes: recall@1 says more than recall@5 here.
val_evaluator = dict(topk=(1, 5))
test_evaluator = val_evaluator

max_epochs = 10
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.01))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=8)
