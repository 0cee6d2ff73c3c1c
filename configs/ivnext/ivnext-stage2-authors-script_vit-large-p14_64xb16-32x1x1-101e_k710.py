# stage2_vitl.py with the value of the authors' large script that departs
# from the paper (exp/large/pretrain/stage2.sh; docs/fidelity.md): 101
# epochs instead of 100 (its batch, 128 GPUs x 8 = 1024, is the paper's).
#
#   tools/dist_train.sh THIS_CONFIG 64
_base_ = ['./stage2_vitl.py']

max_epochs = 101
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.1,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
