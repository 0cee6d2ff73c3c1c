# stage1_vitb.py with the values of the authors' script where it departs
# from the paper (exp/base/pretrain/stage1.sh; docs/fidelity.md): 62 epochs
# with 7 warmup epochs instead of 50 / 5, mask ratio 0.75 instead of 0.8
# (64 of 256 tokens per frame stay visible instead of 52). The total batch,
# 2048, is the script's too (128 GPUs x 16).
#
#   tools/dist_train.sh THIS_CONFIG 64
_base_ = ['./stage1_vitb.py']

max_epochs = 62
warmup_epochs = 7
model = dict(masker=dict(mask_ratio=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min_ratio=1e-2, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
