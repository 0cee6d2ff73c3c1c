# Zero-shot action recognition (paper Table 9) with a LiT checkpoint of
# lit_ivnext-vit-large-p14_mobileclip-b_8xb64-16x224-5e_umt25m.py: every class
# name of `class_prompts` (line i = class i) is embedded through the prompt
# template, each video is scored by cosine similarity against them.
# K700, SSv2-MC and MiT: set ann_file_cls / data_root_cls / class_prompts.
#
#   PYTHONPATH=. python tools/test.py THIS_CONFIG LIT_CHECKPOINT
_base_ = ['./lit_ivnext-vit-large-p14_mobileclip-b_8xb64-16x224-5e_umt25m.py']

data_root_cls = 'data/kinetics400/videos_val'
ann_file_cls = 'data/kinetics400/kinetics400_val_list_videos.txt'
class_prompts = 'data/kinetics400/classes.txt'  # one class name a line

model = dict(class_prompts=class_prompts,
             prompt_templates=['a video of {}.'])

cls_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=_base_.num_frames,
         num_clips=1, test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(-1, _base_.img_size)),
    dict(type='mmaction.CenterCrop', crop_size=_base_.img_size),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='mmivnext.UnlabeledVideoDataset',  # "path label" lists
        ann_file=ann_file_cls,
        data_prefix=dict(video=data_root_cls),
        pipeline=cls_pipeline,
        test_mode=True))
# Top-1 / top-5 accuracy (`zeroshot_top{k}_acc`) and the class-mean recalls.
test_evaluator = dict(_delete_=True, type='mmivnext.ClassMeanRecallAtK',
                      topk=(1, 5), tasks=('zeroshot', ), with_accuracy=True)
