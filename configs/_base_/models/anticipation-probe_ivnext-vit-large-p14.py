# EPIC-KITCHENS-100 action anticipation probe (paper section 4.2, Table 8;
# docs/probe_anticipation.md): the frozen Stage-2 InternVideo-Next ViT-L/14
# encoder (the released layout, as in the attentive-probe configs) encodes the
# 32-frame context; the frozen Stage-2 predictor (last 5 layers of
# ModernBERT-Large) predicts the tokens of the next 2 frames; encoder and
# predicted tokens are concatenated along the token axis (both 1024 wide, so
# future_proj=None) and an attentive probe (3 self-attention blocks + one
# cross-attention block of 3 learnable queries, V-JEPA 2's 4-block probe)
# classifies verb / noun / action with sigmoid focal losses. Only the probe
# trains. Both frozen parts load strictly from one Stage-2 runner checkpoint
# (`backbone.*`, `predictor.*`). Runs in mmivnext's scope.
_base_ = ['./frozen-ivnext-encoder_vit-base-p14.py']

stage2_checkpoint = 'work_dirs/stage2_vitl/epoch_100.pth'  # stage2_vitl.py
embed_dims = 1024
num_cls_tokens = 4
# (T', H', W') of the Stage-2 predictor (stage2_vitb.py / stage2_vitl.py); the
# probe passes the grid extended by the future frames at run time.
stage2_grid = (32, 16, 16)
# EK100 classes: 97 verbs, 300 nouns; actions = rows of the actions CSV that
# tools/data/ek100_action_map.py writes from EPIC_100_train.csv (it prints the
# count; labels beyond the head's size raise in the loss).
num_verbs = 97
num_nouns = 300
num_actions = 3806

model = dict(
    type='ActionAnticipationProbe',
    backbone=dict(
        arch='large',
        img_size=224,
        num_frames=32,  # the context clip
        frozen_stages=24,  # all frozen, kept in eval mode
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint,
                      prefix='backbone.')),
    predictor=dict(
        type='ModernBertPredictor',
        in_dims=embed_dims,
        grid_size=stage2_grid,
        num_cls_tokens=num_cls_tokens,
        num_layers=5,
        pretrained='answerdotai/ModernBERT-large',  # architecture only:
        init='none'),  # the weights come from the Stage-2 checkpoint
    predictor_checkpoint=stage2_checkpoint,
    predictor_prefix='predictor.',
    num_future_frames=2,
    num_gap_frames=0,
    future_proj=None,
    head=dict(
        type='AttentiveVerbNounActionHead',
        in_channels=embed_dims,
        num_verbs=num_verbs,
        num_nouns=num_nouns,
        num_actions=num_actions,
        num_heads=16,
        num_self_attn_blocks=3,
        loss=dict(type='SigmoidFocalLoss', gamma=2.0, alpha=0.25)),
    data_preprocessor=dict(
        type='mmaction.ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
