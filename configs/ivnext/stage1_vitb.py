# InternVideo-Next Stage 1, ViT-B/14 student, 16 frames x 224 px, on
# unlabeled Kinetics-710-style videos. Paper Table 13: AdamW (0.9, 0.98),
# lr 1e-3 at batch 2048 (64 GPUs x 32), wd 0.05, cosine, 5 warmup epochs,
# 50 epochs, MultiScaleCrop + flip, mask ratio 0.8. bf16 autocast on GPUs.
#
#   tools/dist_train.sh configs/ivnext/stage1_vitb.py 64 --auto-scale-lr
_base_ = [
    '../_base_/models/ivnext-s1_vit-base-p14.py',
    '../_base_/datasets/k400_unlabeled.py',
    '../_base_/schedules/adamw_cosine-warmup5_50e.py',
    '../_base_/default_runtime.py',
]

# K710 = the union of K400/600/700 training lists without val/test overlap.
data_root = 'data/k710/videos'
ann_file_train = 'data/k710/k710_train_list_videos.txt'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root)))

# The frozen teacher holds bf16 weights on GPUs: half its memory, and no
# per-call weight casts under autocast (it runs without grads).
model = dict(teacher=dict(dtype='bfloat16'))

optim_wrapper = dict(
    type='mmivnext.AnyDeviceAmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(lr=1e-3, betas=(0.9, 0.98), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0))

default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=5))
auto_scale_lr = dict(base_batch_size=2048)
