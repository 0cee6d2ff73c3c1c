# Video depth windows (mmivnext.VideoDepthDataset; layout in
# mmivnext/datasets/video_depth_dataset.py and docs/probe_depth.md) at 224 px:
# the shorter side is resized to 224 (RGB bilinear, depth nearest), then a
# 224 x 224 crop - random with a horizontal flip for training, central for
# validation and test. The values below are KITTI's (32-frame windows, stride
# 10, depth / 256 = metres, valid depth in (1e-3, 80) m); inheriting configs
# set their set's in the dataloaders (dicts merge).
dataset_type = 'VideoDepthDataset'
data_root = 'data/kitti_depth'
clip_len = 32
stride = 10
depth_scale = 256.
depth_range = (1e-3, 80.)
img_size = 224

train_pipeline = [
    dict(type='LoadVideoDepthWindow'),
    dict(type='ResizeVideoDepth', short_side=img_size),
    dict(type='CropVideoDepth', crop_size=img_size, mode='random'),
    dict(type='FlipVideoDepth', flip_ratio=0.5),
    dict(type='PackVideoDepthInputs'),
]
test_pipeline = [
    dict(type='LoadVideoDepthWindow'),
    dict(type='ResizeVideoDepth', short_side=img_size),
    dict(type='CropVideoDepth', crop_size=img_size, mode='center'),
    dict(type='PackVideoDepthInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train.txt',
        clip_len=clip_len,
        stride=stride,
        depth_scale=depth_scale,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val.txt',
        clip_len=clip_len,
        stride=stride,
        depth_scale=depth_scale,
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='DepthMetric', min_depth=depth_range[0], max_depth=depth_range[1])
test_evaluator = val_evaluator
