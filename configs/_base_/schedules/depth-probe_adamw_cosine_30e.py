# Depth-probe schedule: 30 epochs (paper, appendix A.3). The paper's learning
# rate is missing from its text; we use AdamW lr 1e-3 at the paper's batch
# (128 KITTI, 256 ScanNet), the attentive probes' value (V-JEPA 2's probes),
# wd 0.05, 1 warmup epoch, cosine. Only the head is optimised: the
# constructor leaves the frozen encoder out and logs the parameter counts.
max_epochs = 30
optim_wrapper = dict(
    type='mmivnext.SyncFreeOptimWrapper',
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-6,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
