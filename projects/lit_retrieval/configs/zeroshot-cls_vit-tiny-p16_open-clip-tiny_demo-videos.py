# Zero-shot classification of the demo videos' 12 classes with a checkpoint of
# lit_vit-tiny-p16_open-clip-tiny_1xb12-8x32-4e_demo-videos.py: the class
# prompts are the class captions ("a circle moving left", line i = class i).
#
#   PYTHONPATH=. python tools/test.py THIS_CONFIG LIT_CHECKPOINT
_base_ = ['./lit_vit-tiny-p16_open-clip-tiny_1xb12-8x32-4e_demo-videos.py']

model = dict(class_prompts=_base_.annotations + '/class_prompts.txt')

cls_pipeline = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=_base_.num_frames,
         num_clips=1, test_mode=True),
    dict(type='mmaction.DecordDecode'),
    dict(type='mmaction.Resize', scale=(_base_.img_size, _base_.img_size),
         keep_ratio=False),
    dict(type='mmaction.FormatShape', input_format='NCTHW'),
    dict(type='mmaction.PackActionInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=12,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='mmivnext.UnlabeledVideoDataset',
        ann_file=_base_.videos + '/val.txt',
        data_prefix=dict(video=_base_.videos),
        pipeline=cls_pipeline,
        test_mode=True))
test_evaluator = dict(_delete_=True, type='mmivnext.ClassMeanRecallAtK',
                      topk=(1, 5), tasks=('zeroshot', ), with_accuracy=True)
