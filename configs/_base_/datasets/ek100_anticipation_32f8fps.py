# EPIC-KITCHENS-100 action anticipation data (docs/probe_anticipation.md): for
# every action segment of the annotation CSV, a context of 32 frames at 8 fps
# (4 s) ending 1 s before the action starts (V-JEPA 2's protocol), labelled
# with its verb, noun and action. Layout: videos at
# <data_root>/<participant_id>/videos/<video_id>.MP4, the CSVs of
# epic-kitchens-100-annotations, and actions.csv (the (verb, noun) -> action
# map of the training CSV, from tools/data/ek100_action_map.py). Contexts that
# start before the video repeat its first frame (clamped, logged); validation
# segments of actions never seen in training are dropped (logged).
# Training: random resized crop of the 256-px short side, 224 px, flip;
# validation / test: one centre crop of the 224-px short side.
dataset_type = 'EpicKitchensAnticipationDataset'
data_root = 'data/epic-kitchens-100'
ann_file_train = 'data/epic-kitchens-100-annotations/EPIC_100_train.csv'
ann_file_val = 'data/epic-kitchens-100-annotations/EPIC_100_validation.csv'
action_map_file = 'data/epic-kitchens-100-annotations/actions.csv'
# Video decoder of mmivnext.VideoInit: 'decord', 'pyav' or 'torchcodec' (same
# frames, see mmivnext/datasets/transforms/video_decode.py), one decoder thread
# per DataLoader worker; inheriting configs that change it rebuild the pipelines.
video_backend = 'decord'
num_frames = 32
fps = 8.0
anticipation_time = 1.0
img_size = 224

# Labels travel as data-sample fields gt_verb / gt_noun / gt_action.
pack = dict(
    type='mmaction.PackActionInputs',
    algorithm_keys=('gt_verb', 'gt_noun', 'gt_action'),
    meta_keys=('narration_id', 'video_id'))
train_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(type='SampleFramesByTime'),
    dict(type='mmivnext.VideoDecode'),
    dict(type='mmaction.Resize', scale=(-1, 256)),
    dict(type='mmaction.RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='mmaction.Resize', scale=(img_size, img_size),
         keep_ratio=False),
    dict(type='mmaction.Flip', flip_ratio=0.5),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    pack,
]
val_pipeline = [
    dict(type='mmivnext.VideoInit', backend=video_backend),
    dict(type='SampleFramesByTime'),
    dict(type='mmivnext.VideoDecode'),
    dict(type='mmaction.Resize', scale=(-1, img_size)),
    dict(type='mmaction.CenterCrop', crop_size=img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    pack,
]
dataset_args = dict(
    type=dataset_type,
    data_prefix=dict(video=data_root),
    action_map_file=action_map_file,
    num_frames=num_frames,
    fps=fps,
    anticipation_time=anticipation_time,
    before_video_start='clamp',
    unseen_actions='drop')

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset_args, ann_file=ann_file_train,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset_args, ann_file=ann_file_val, pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader

# EK100's metric: class-mean recall@5 of verb, noun and action.
val_evaluator = dict(type='ClassMeanRecallAtK', topk=5, with_accuracy=True)
test_evaluator = val_evaluator
