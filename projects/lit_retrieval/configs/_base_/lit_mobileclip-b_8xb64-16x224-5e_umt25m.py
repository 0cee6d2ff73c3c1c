# The LiT recipe (paper section 4.3): a frozen video encoder, MobileCLIP-B's
# text tower (open_clip's `MobileCLIP-B`, tag `datacompdr`) and a linear map to
# the video embedding's width trained contrastively for 5 epochs on UMT's 25.5M
# video-text pairs; validation on MSR-VTT 1k-A retrieval. The paper gives no
# batch size, lr or frame count: the ones here are ours (README, "Recipe").
# Leaf configs inherit this file and a model-zoo encoder
# (configs/_base_/encoders/*.py) and set `model.backbone` (its out_type) and
# `model.video_embed_dims`.
_base_ = ['../../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['projects.lit_retrieval.lit_retrieval'],
                      allow_failed_imports=False)

num_frames = 16
img_size = 224
data_root = 'data/umt25m/videos'
ann_file_train = 'data/umt25m/captions_train.json'
data_root_test = 'data/msrvtt/videos'
ann_file_test = 'data/msrvtt/retrieval_1ka_test.json'

model = dict(
    type='lit_retrieval.LiTVideoTextModel',
    # open_clip's built-in MobileCLIP-B with its `datacompdr` weights (from
    # the hub repo apple/MobileCLIP-B-OpenCLIP); a local copy loads with
    # pretrained='local-dir:PATH', tag=None.
    text_encoder=dict(type='lit_retrieval.OpenCLIPTextEncoder',
                      pretrained='MobileCLIP-B', tag='datacompdr'),
    data_preprocessor=dict(
        type='mmaction.ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

train_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.RandomCrop', size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs', meta_keys=('caption', )),
]
test_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1,
         test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.CenterCrop', crop_size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs', meta_keys=('captions', )),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='lit_retrieval.VideoTextDataset',
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='lit_retrieval.VideoTextDataset',
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_test),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmivnext.VideoTextRetrievalMetric',
                     topk=(1, 5, 10))
test_evaluator = val_evaluator

max_epochs = 5
# The constructor leaves the frozen encoder out of the optimizer.
optim_wrapper = dict(
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.98),
                   weight_decay=0.02),
    paramwise_cfg=dict(no_decay_names=['logit_scale']),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-6,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=512)
