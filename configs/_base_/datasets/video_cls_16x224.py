# Labelled video classification in mmaction2's VideoDataset format ("path
# label" per line), 16 frames by sparse sampling at 224 px, for probes and
# fine-tuning in mmaction2's scope. Training: random crop of the 256-px-short
# side and flip; validation: one centre clip; test: 4 clips x 3 crops
# (averaged by the head). Inheriting configs set the paths in the dataloaders
# (dicts merge); SthSth-style sets rebuild `train_dataloader.dataset.pipeline`
# without Flip (lists are replaced).
dataset_type = 'VideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
# Video decoder of mmivnext.VideoInit: 'decord', 'pyav' or 'torchcodec' (same
# frames, see mmivnext/datasets/transforms/video_decode.py), one decoder thread
# per DataLoader worker; inheriting configs that change it rebuild the pipelines.
video_backend = 'decord'

train_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(type='UniformSample', clip_len=16, num_clips=1),
    dict(type='mmivnext.VideoDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(type='UniformSample', clip_len=16, num_clips=1, test_mode=True),
    dict(type='mmivnext.VideoDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(type='UniformSample', clip_len=16, num_clips=4, test_mode=True),
    dict(type='mmivnext.VideoDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
