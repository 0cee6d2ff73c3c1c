# The synthetic demo set (moving shapes, 12 classes) for pretraining on a CPU in
# minutes: write it with `python tools/data/make_demo_videos.py` (120 train and
# 40 val videos of 32 frames at 64x64 in data/demo_videos). Pretraining ignores
# the labels; classifiers and probes that inherit this file use them (the lists
# are labelled) and build their validation from `val_pipeline`. The classes
# are told apart by the direction of motion, as in SthSth V2,
# so there is no flip. 8 frames at 56 px (4x4 patches of 14 px) keep a step
# cheap; inheriting configs change these as described in k400_unlabeled.py.
dataset_type = 'UnlabeledVideoDataset'
data_root = 'data/demo_videos'
ann_file_train = 'data/demo_videos/train.txt'
# For probe configs that inherit this file; pretraining has no validation.
data_root_val = 'data/demo_videos'
ann_file_val = 'data/demo_videos/val.txt'
# Video decoder of mmivnext.VideoInit: 'decord', 'pyav' or 'torchcodec' (same
# frames, see mmivnext/datasets/transforms/video_decode.py), one decoder thread
# per DataLoader worker; inheriting configs that change it rebuild the pipelines.
video_backend = 'decord'
num_frames = 8
img_size = 56

train_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    # TSN-style sparse sampling (see k400_unlabeled.py).
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmivnext.VideoDecode'),
    dict(
        type='mmaction.MultiScaleCrop',
        input_size=img_size,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    # PIL's bilinear filter, as the pretraining recipe (docs/fidelity.md).
    dict(type='mmivnext.Resize', scale=(img_size, img_size), keep_ratio=False,
         backend='pillow'),
    # [1, 3, T, H, W] uint8 per sample.
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    # Each index carries its sample's augmentation seed: exact resume.
    sampler=dict(type='mmivnext.SeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
        on_corrupt='raise'))  # generated files: any failure is a bug

# For configs that validate on the labelled val split: one centre clip.
val_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(
        type='mmaction.UniformSample',
        clip_len=num_frames,
        num_clips=1,
        test_mode=True),
    dict(type='mmivnext.VideoDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.CenterCrop', crop_size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
