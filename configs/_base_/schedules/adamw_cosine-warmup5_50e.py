# AdamW with linear warmup then cosine decay, per epoch (converted to per-iteration
# updates), and gradient clipping. Defaults are the paper's Stage-1 recipe
# (Table 13: lr 1e-3 at batch 2048, wd 0.05, 5 warmup epochs, 50 epochs).
# Inheriting configs change `max_epochs` / `warmup_epochs` here and rebuild
# `param_scheduler` and `train_cfg`, or override the lr / clip in `optim_wrapper`.
max_epochs = 50
warmup_epochs = 5
base_lr = 1e-3
min_lr_ratio = 1e-3

optim_wrapper = dict(
    # OptimWrapper without a host read of the grad norm every step.
    type='mmivnext.SyncFreeOptimWrapper',
    # fused: one kernel for all parameters (CUDA and CPU since torch 2.4).
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.98), weight_decay=0.05,
        fused=True),
    # No weight decay on norms, biases, position embeddings and cls tokens.
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=3.0),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=base_lr * min_lr_ratio,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)

# The paper's recipe uses batch 2048 (64 GPUs x 32); `--auto-scale-lr` scales
# the lr linearly to the actual total batch.
auto_scale_lr = dict(enable=False, base_batch_size=2048)
