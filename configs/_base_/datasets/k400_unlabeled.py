# Unlabeled Kinetics-style videos for pretraining (K400, K710: only the list and
# the folder differ). The list has mmaction2's VideoDataset format, one
# "<path relative to data_root> [label]" per line; labels are ignored.
# Paper Table 13 (Stage 1): 16 frames by sparse sampling, 224 px,
# MultiScaleCrop [1, 0.875, 0.75, 0.66], horizontal flip.
#
# Inheriting configs change the variables below, then rebuild what uses them:
# `train_pipeline` for `num_frames` / `img_size` / `flip_ratio` (lists are
# replaced, not merged), and
#     train_dataloader = dict(dataset=dict(
#         ann_file=ann_file_train, data_prefix=dict(video=data_root),
#         pipeline=train_pipeline))
# (dicts are merged, so only the changed keys are needed).
dataset_type = 'UnlabeledVideoDataset'
data_root = 'data/kinetics400/videos_train'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
# For probe configs that inherit this file; pretraining has no validation.
data_root_val = 'data/kinetics400/videos_val'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
# Video decoder of mmivnext.VideoInit: 'decord', 'pyav' or 'torchcodec' (same
# frames, see mmivnext/datasets/transforms/video_decode.py), one decoder thread
# per DataLoader worker; inheriting configs that change it rebuild the pipelines.
video_backend = 'decord'
num_frames = 16
img_size = 224
flip_ratio = 0.5

train_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    # TSN-style sparse sampling, as in VideoMAE / InternVideo2 pretraining: the
    # video is cut into `num_frames` equal segments and one frame is drawn at
    # random from each, so a clip spans the whole video whatever its length.
    # (SampleFrames draws `clip_len` consecutive frames per clip, or with
    # clip_len=1 packs the frames as separate clips, not one NCTHW clip.)
    dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='mmivnext.VideoDecode'),
    # Crop sizes are the given fractions of the short side of the decoded
    # frames (sizes within 3 px of img_size snap to it); width and height
    # scales differ by at most one level. The crop sits at one of 13 fixed
    # offsets (corners, centre, edge centres, quarter points), as the
    # authors' GroupMultiScaleCrop(fix_crop=True, more_fix_crop=True)
    # (datasets/transforms.py:116-186); the same size and offset rules. The
    # crop is then resized with PIL's bilinear filter (antialiased when
    # shrinking), as the authors' (transforms.py:124,133); mmaction.Resize
    # would use cv2's, which is not.
    dict(
        type='mmaction.MultiScaleCrop',
        input_size=img_size,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='mmivnext.Resize', scale=(img_size, img_size), keep_ratio=False,
         backend='pillow'),
    dict(type='mmaction.Flip', flip_ratio=flip_ratio),
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
