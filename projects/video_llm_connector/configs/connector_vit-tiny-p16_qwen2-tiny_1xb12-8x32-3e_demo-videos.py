# The connector on the demo videos, in seconds on a CPU (the project's tests
# run it through tools/train.py and tools/test.py): a tiny random frozen
# encoder, a tiny random frozen Qwen2 (hidden 32, 2 layers), captions and
# shape / direction answers for training; multiple-choice questions about
# shape and direction for testing. Write the files it reads, from the
# repository root:
#
#   python -c "import mmivnext.testing.video_text as v; v.make_video_text_demo()"
#   PYTHONPATH=. python tools/train.py THIS_CONFIG
#   PYTHONPATH=. python tools/test.py THIS_CONFIG work_dirs/<name>/epoch_3.pth
_base_ = ['./_base_/connector_qwen2-7b_32xb8-4x224-1e_stage1-mix.py']

num_frames = 8
img_size = 32
videos = 'data/demo_videos_8x32'
annotations = 'data/demo_video_text'
encoder = 'work_dirs/demo_video_text/encoder_vit-tiny-p16.safetensors'

model = dict(
    backbone=dict(
        type='mmivnext.VisionTransformer3D',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=img_size, num_frames=num_frames, patch_size=16,
        num_cls_tokens=1, projector_cfg=dict(num_heads=2, out_dims=32),
        frozen_stages=1, out_type='featmap',
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    visual_dims=32,
    connector=dict(token_grid=(2, 2, 2)),  # 8 visual tokens of 8 x 2 x 2
    llm=dict(pretrained='work_dirs/demo_video_text/qwen2_tiny',
             dtype='float32'))

pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1,
         test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(img_size, img_size),
         keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
]
train_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file=annotations + '/instructions_train.json',
        data_prefix=dict(video=videos),
        pipeline=[*pipeline,
                  dict(type='mmaction.PackActionInputs',
                       meta_keys=('prompt', 'response'))]))
test_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file=annotations + '/mcq_val.json',
        data_prefix=dict(video=videos),
        pipeline=[*pipeline,
                  dict(type='mmaction.PackActionInputs',
                       meta_keys=('question', 'candidates', 'answer',
                                  'task'))]))

max_epochs = 3
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=12)
