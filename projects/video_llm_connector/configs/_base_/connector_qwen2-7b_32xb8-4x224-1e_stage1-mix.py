# The connector recipe (paper section 4.3, Table 11; VideoChat-Flash stage 1):
# a frozen video encoder and a frozen Qwen2-7B (transformers, hub
# `Qwen/Qwen2-7B`, bf16), only the MLP connector trained with the next-token
# loss of captions and answers, 4 frames a clip (VideoChat-Flash stage 1),
# pooled to 4 x 4 x 4 = 64 visual tokens. The data mix (LLaVA-558K, S-MiT,
# WebVid-700K, VidLN, SSv2 open-ended) goes into one instruction JSON. The
# paper gives no batch size, lr or token budget: the ones here are ours
# (README, "Recipe"). Leaf configs inherit this file and a model-zoo encoder
# and set `model.backbone` (out_type='featmap') and `model.visual_dims`.
# Evaluation: MVBench multiple-choice accuracy.
_base_ = ['../../../../configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['projects.video_llm_connector.video_llm_connector'],
    allow_failed_imports=False)

num_frames = 4
img_size = 224
data_root = 'data/connector_stage1/videos'
ann_file_train = 'data/connector_stage1/instructions_train.json'
data_root_test = 'data/mvbench/videos'
ann_file_test = 'data/mvbench/mcq.json'

model = dict(
    type='video_llm_connector.VideoLLMConnectorModel',
    connector=dict(type='video_llm_connector.PooledMLPConnector',
                   token_grid=(4, 4, 4), num_layers=2),
    llm=dict(type='video_llm_connector.FrozenCausalLM',
             pretrained='Qwen/Qwen2-7B', dtype='bfloat16'),
    data_preprocessor=dict(
        type='mmaction.ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

train_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1,
         test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.CenterCrop', crop_size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs', meta_keys=('prompt', 'response')),
]
test_pipeline = [
    *train_pipeline[:-1],
    dict(type='mmaction.PackActionInputs',
         meta_keys=('question', 'candidates', 'answer', 'task')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='video_llm_connector.VideoInstructionDataset',
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='video_llm_connector.VideoMCQDataset',
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_test),
        pipeline=test_pipeline,
        test_mode=True))
test_evaluator = dict(type='mmivnext.MultipleChoiceAccuracy')
test_cfg = dict(type='TestLoop')

max_epochs = 1
# The constructor leaves the frozen encoder out of the optimizer; the LLM is
# outside the module tree.
optim_wrapper = dict(
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.03, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs + 1)
auto_scale_lr = dict(enable=False, base_batch_size=256)
