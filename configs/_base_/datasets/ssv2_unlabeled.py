# Unlabeled Something-Something V2 videos for pretraining. The list has
# mmaction2's VideoDataset format, one "<path relative to data_root> [label]" per
# line; labels are ignored. Paper Table 13 (Stage 1, SthSth V2 column): 16 frames
# by sparse sampling, 224 px, MultiScaleCrop [1, 0.875, 0.75, 0.66], and no flip,
# since classes such as "pushing something from left to right" are defined by
# direction.
#
# Inheriting configs change the variables below, then rebuild what uses them:
# `train_pipeline` for `num_frames` / `img_size` (lists are replaced, not
# merged), and
#     train_dataloader = dict(dataset=dict(
#         ann_file=ann_file_train, data_prefix=dict(video=data_root),
#         pipeline=train_pipeline))
# (dicts are merged, so only the changed keys are needed).
dataset_type = 'UnlabeledVideoDataset'
data_root = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
# For probe configs that inherit this file; pretraining has no validation.
data_root_val = 'data/sthv2/videos'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
# Video decoder of mmivnext.VideoInit: 'decord', 'pyav' or 'torchcodec' (same
# frames, see mmivnext/datasets/transforms/video_decode.py), one decoder thread
# per DataLoader worker; inheriting configs that change it rebuild the pipelines.
video_backend = 'decord'
num_frames = 16
img_size = 224

train_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    # TSN-style sparse sampling (see k400_unlabeled.py): one random frame from
    # each of `num_frames` equal segments of the video.
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmivnext.VideoDecode'),
    # 13 fixed crop offsets, as k400_unlabeled.py.
    dict(
        type='mmaction.MultiScaleCrop',
        input_size=img_size,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='mmivnext.Resize', scale=(img_size, img_size), keep_ratio=False,
         backend='pillow'),
    # [1, 3, T, H, W] uint8 per sample.
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]

train_dataloader = dict(
    batch_size=32,  # per GPU: the paper's 2048 over 64 GPUs
    num_workers=8,
    persistent_workers=True,
    # Each index carries its sample's augmentation seed: exact resume.
    sampler=dict(type='mmivnext.SeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
        # Web-crawled sets hold a few broken files: log and replace them.
        on_corrupt='skip'))
