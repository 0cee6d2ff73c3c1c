# LiT on the demo videos, in seconds on a CPU (the project's tests run it
# through tools/train.py and tools/test.py): a tiny random frozen encoder with
# a projector, a tiny random open_clip text tower, captions such as "a circle
# moving left"; validation is retrieval on the val videos (2 captions each).
# Write the files it reads, from the repository root:
#
#   python -c "import mmivnext.testing.video_text as v; v.make_video_text_demo()"
#   PYTHONPATH=. python tools/train.py THIS_CONFIG
#   PYTHONPATH=. python tools/test.py THIS_CONFIG work_dirs/<name>/epoch_4.pth
_base_ = ['./_base_/lit_mobileclip-b_8xb64-16x224-5e_umt25m.py']

num_frames = 8
img_size = 32
videos = 'data/demo_videos_8x32'
annotations = 'data/demo_video_text'
text_model = 'work_dirs/demo_video_text/open_clip_text_tiny'
encoder = 'work_dirs/demo_video_text/encoder_vit-tiny-p16.safetensors'

model = dict(
    backbone=dict(
        type='mmivnext.VisionTransformer3D',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=img_size, num_frames=num_frames, patch_size=16,
        num_cls_tokens=1, projector_cfg=dict(num_heads=2, out_dims=32),
        frozen_stages=1, out_type='projected',
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    video_embed_dims=32,
    text_encoder=dict(pretrained='local-dir:' + text_model, tag=None))

train_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(img_size, img_size),
         keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs', meta_keys=('caption', )),
]
test_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1,
         test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(img_size, img_size),
         keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs', meta_keys=('captions', )),
]
train_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file=annotations + '/captions_train.json',
                 data_prefix=dict(video=videos), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file=annotations + '/retrieval_val.json',
                 data_prefix=dict(video=videos), pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 4
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=12)
