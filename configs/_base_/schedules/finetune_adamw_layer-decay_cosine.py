# Fine-tuning schedule of the paper (Table 15): AdamW, wd 0.05, layer-wise lr
# decay 0.75 (ViT-B; 0.85 for ViT-L), 5 warmup epochs then cosine, batch 1024
# (e.g. 32 GPUs x 32). Inheriting configs set the lr (1e-3 SSv2, 3e-4
# Kinetics, 2e-4 COIN) and `max_epochs` (30 SSv2, 20 otherwise) and rebuild
# `param_scheduler` / `train_cfg` for another length.
max_epochs = 20
warmup_epochs = 5
optim_wrapper = dict(
    type='mmivnext.SyncFreeOptimWrapper',
    constructor='mmivnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75),
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999),
                   weight_decay=0.05, fused=True),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=1024)
