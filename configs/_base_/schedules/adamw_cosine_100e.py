# AdamW with cosine decay and no warmup, per epoch (converted to per-iteration
# updates), and gradient clipping: the paper's Stage-2 recipe (Table 14: lr 1e-4
# at batch 2048, wd 0.05, no warmup, 100 epochs).
_base_ = ['./adamw_cosine-warmup5_50e.py']

max_epochs = 100
base_lr = 1e-4

optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=base_lr * 1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
