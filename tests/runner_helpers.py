"""Tiny training runs through ``mmivnext.Runner`` for the engine and
security tests: the demo recognizer (1 layer of width 32, 4 frames) on 8
clips of the session's demo set, 2 steps of 4 an epoch."""
import os.path as osp
import uuid

from mmengine.config import Config

from mmivnext.engine.runner import build_runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECOGNIZER = osp.join(
    ROOT, 'configs/demo/recognizer3d_vit-tiny-p14_1xb8-8x1x1-10e_demo-videos.py')


def use_demo_data(cfg, demo_videos, num_workers=2, persistent=True):
    """Train ``cfg`` on 8 clips of the demo set (2 steps of 4 an epoch),
    logging every step and saving every epoch; returns ``cfg``."""
    cfg.train_dataloader.dataset.indices = 8
    cfg.train_dataloader.dataset.ann_file = demo_videos['train_list']
    cfg.train_dataloader.dataset.data_prefix.video = demo_videos['root']
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.num_workers = num_workers
    cfg.train_dataloader.persistent_workers = persistent and num_workers > 0
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint.interval = 1
    cfg.log_level = 'WARNING'
    # The demo configs' RepresentationMonitorHook reads data/demo_videos;
    # tests/test_engine/test_hooks checks it on its own data.
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if 'RepresentationMonitorHook' not in h['type']]
    return cfg


def tiny_recognizer_cfg(demo_videos):
    """The demo recognizer at its smallest, without validation or test
    loops, keeping one checkpoint."""
    cfg = use_demo_data(Config.fromfile(RECOGNIZER), demo_videos,
                        num_workers=0)
    cfg.train_dataloader.dataset.pipeline[1].clip_len = 4
    cfg.model.backbone.arch = dict(embed_dims=32, num_layers=1, num_heads=2,
                                   feedforward_channels=64)
    cfg.model.backbone.num_frames = 4
    cfg.model.cls_head.in_channels = 32
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = dict(
        type='mmivnext.AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    return cfg


def train(cfg, work_dir, max_epochs, resume=False):
    """Train a copy of ``cfg`` in ``work_dir`` up to ``max_epochs``;
    ``resume`` is ``True`` (auto), a checkpoint path or False. Returns the
    runner."""
    cfg = cfg.copy()
    cfg.work_dir = str(work_dir)
    # MMEngine reuses the logger (and so the log file) of an experiment name
    # it has seen; the default name repeats within a second.
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'
    cfg.train_cfg.max_epochs = max_epochs
    if isinstance(resume, str):
        cfg.resume, cfg.load_from = True, resume
    else:
        cfg.resume = resume
    runner = build_runner(cfg)
    runner.train()
    return runner
