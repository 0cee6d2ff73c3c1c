# stage1_vitl.py with the values of the authors' large script where it
# departs from the paper (exp/large/pretrain/stage1.sh; docs/fidelity.md):
# 62 epochs with 7 warmup epochs, mask ratio 0.75. Its teacher layers and
# drop path 0.2 are already stage1_vitl.py's; its --model (the base size) is
# taken as the evident slip it is.
#
#   tools/dist_train.sh THIS_CONFIG 64
_base_ = ['./stage1_vitl.py']

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
