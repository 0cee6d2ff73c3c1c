# Runtime shared by every mmivnext config.
default_scope = 'mmivnext'

default_hooks = dict(
    # Losses and the grad norm are read from the device only when logged.
    runtime_info=dict(type='mmivnext.SyncFreeRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Saves, then points last_checkpoint at it, then rotates: a job killed
    # at any moment keeps a complete checkpoint (with mmivnext.Runner).
    checkpoint=dict(
        type='mmivnext.AtomicCheckpointHook', interval=1, max_keep_ckpts=3,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # Checkpoints stay loadable with torch.load(weights_only=True).
    weights_only_checkpoint=dict(type='mmivnext.WeightsOnlyCheckpointHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # On machines without CUDA, tools/train.py starts gloo instead.
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'

load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
