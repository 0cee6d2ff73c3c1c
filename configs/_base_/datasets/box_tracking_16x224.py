# Box-tracking windows (VideoBoxTrackingDataset): 16 frames at 5 fps of the
# 256 x 256 centre crop, built by tools/data/build_tracking_windows.py, resized
# to 224 x 224 with their boxes. No augmentation (the paper names none).
# Layout (docs/probe_tracking.md):
#   <data_root>/frames/<sequence>/<frame:06d>.jpg
#   <data_root>/windows_{train,val}.json
dataset_type = 'VideoBoxTrackingDataset'
data_root = 'data/waymo_tracking'

train_pipeline = [
    dict(type='LoadTrackingFrames'),
    dict(type='ResizeTrackingClip', scale=224),
    dict(type='PackTrackingInputs'),
]
val_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='windows_train.json',
        data_prefix=dict(frames='frames'),
        num_frames=16,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='windows_val.json',
        data_prefix=dict(frames='frames'),
        num_frames=16,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

# Mean IoU over all visible (object, frame) pairs of frames 2..16, in percent.
val_evaluator = dict(type='BoxTrackingMetric')
test_evaluator = val_evaluator
