# Anticipation-probe schedule (the paper gives none; V-JEPA 2 trains for 20
# epochs without warmup at batch 128 and reports the best of a sweep of heads
# over learning rates and weight decays). Our choice: one head, AdamW lr 1e-3
# at batch 128 (8 GPUs x 16), weight decay 0.01, cosine to 0 over 20 epochs,
# no warmup. Only the probe is optimised: the constructor leaves the frozen
# encoder and predictor out and logs the trained / frozen parameter counts.
max_epochs = 20
optim_wrapper = dict(
    type='mmivnext.SyncFreeOptimWrapper',
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.01, fused=True))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=128)
