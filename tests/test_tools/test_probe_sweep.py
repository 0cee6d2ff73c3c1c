"""tools/probe_sweep.py on a tiny demo set with a tiny random encoder.

The demo probe config is shrunk through --cfg-options (width 32, 2 layers,
4 frames of 28 px, 24 train and 12 val clips) and runs on the CPU.
"""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch

from mmivnext.engine.runner import build_runner
from mmivnext.testing import make_demo_videos
from script_helpers import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    ROOT, 'configs/probes/demo/'
    'attentive-probe_ivnext-vit-tiny-p14_1xb32-16x1x1-40e_demo-videos.py')

probe_sweep = load_script('tools/probe_sweep.py')


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """24 train and 12 val demo videos of 16 frames at 64 px."""
    root = tmp_path_factory.mktemp('probe_sweep_videos')
    return make_demo_videos(str(root), num_train=24, num_val=12,
                            num_frames=16, size=64)


def cfg_options(videos, max_epochs=2):
    """The demo probe config on ``videos``, tiny and with a random encoder:
    clips of 4 frames, resized to 32 px, cropped to 28 (randomly in train).

    Batches of 5 leave a last batch of 4 of the 24 train clips (drop_last is
    False); the cosine schedule ends with the training.
    """
    opts = []
    for split, ann_file in (('train', videos['train_list']),
                            ('val', videos['val_list'])):
        opts += [
            f'{split}_dataloader.dataset.ann_file={ann_file}',
            f'{split}_dataloader.dataset.data_prefix.video={videos["root"]}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            # DecordInit, UniformSample, DecordDecode, Resize, crop, ...
            f'{split}_dataloader.dataset.pipeline.1.clip_len=4',
            f'{split}_dataloader.dataset.pipeline.3.scale=(-1,32)',
        ]
    return opts + [
        'train_dataloader.dataset.pipeline.4.size=28',
        'val_dataloader.dataset.pipeline.4.crop_size=28',
        'train_dataloader.batch_size=5',
        'val_dataloader.batch_size=6',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.num_layers=2',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.num_frames=4',
        'model.backbone.img_size=28',
        'model.backbone.frozen_stages=2',
        'model.backbone.projector_cfg.num_heads=2',
        'model.backbone.init_cfg=None',
        'model.cls_head.in_channels=32',
        'model.cls_head.num_heads=2',
        f'train_cfg.max_epochs={max_epochs}',
        f'param_scheduler.1.T_max={max_epochs - 1}',
        f'param_scheduler.1.end={max_epochs}',
    ]


def _as_dict(options):
    """--cfg-options strings as the tool's parser merges them."""
    return probe_sweep.parse_args(
        [CONFIG, '--work-dir', 'unused', '--cfg-options', *options]).cfg_options


def test_sweep_writes_json_with_two_seeds(videos, tmp_path, capsys):
    work_dir = tmp_path / 'sweep'
    result = probe_sweep.main([
        CONFIG, '--work-dir', str(work_dir), '--seeds', '0', '1', '--lrs',
        '1e-3', '--name', 'tiny', '--device', 'cpu', '--cfg-options',
        *cfg_options(videos)])
    saved = json.loads((work_dir / 'probe_sweep.json').read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved['name'] == 'tiny' and saved['config'] == CONFIG
    assert saved['encoder_checkpoint'] is None
    assert (saved['seeds'], saved['lrs'], saved['views']) == ([0, 1], [1e-3],
                                                              1)
    assert (saved['num_train'], saved['num_val']) == (24, 12)
    assert saved['iters_per_epoch'] == 5  # 24 clips in batches of 5

    runs = saved['runs']
    assert [(r['lr'], r['seed']) for r in runs] == [(1e-3, 0), (1e-3, 1)]
    # Other seeds, other heads: the final losses differ.
    assert runs[0]['train_loss'] != runs[1]['train_loss']
    [summary] = saved['summary']
    for key in ('top1', 'top5'):
        values = [r[key] for r in runs]
        assert all(0 <= v <= 1 for v in values)
        assert summary[f'{key}_mean'] == pytest.approx(np.mean(values))
        assert summary[f'{key}_std'] == pytest.approx(np.std(values))
    assert summary['num_seeds'] == 2

    out = capsys.readouterr().out
    assert 'top-1 (%)' in out and 'probe_sweep.json' in out
    assert 'Epoch' not in out and 'epoch 1/2' not in out  # in the log only
    log = (work_dir / 'probe_sweep.log').read_text()
    assert 'lr=0.001 seed=1 epoch 2/2' in log


def _train_features(cfg, encoder_seed, views):
    """The tool's encoder and its ``views`` cached passes over the train set
    (``[N, L, C]`` each) with the labels ``[N]``."""
    model = probe_sweep.build_model(cfg, encoder_seed=encoder_seed)
    feats = []
    for view in range(views):
        loader = probe_sweep.build_feature_dataloader(
            cfg, 'train_dataloader', encoder_seed, view)
        view_feats, labels = probe_sweep.extract_features(model, loader)
        feats.append(view_feats[:, 0])
    return model, feats, labels


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='bit-exact CPU check (the Runner would train on the '
                    'GPU)')
@pytest.mark.parametrize('augment', [False, True],
                         ids=['no-augmentation', 'seeded-augmentation'])
def test_cached_head_equals_runner_head(videos, tmp_path, augment):
    """The key test: train_head on cached features ends with exactly the head
    that MMEngine's Runner (tools/train.py's) trains end to end over the
    frozen encoder, for the same seed (shuffle order), lr and schedule, from
    the same initial head (the Runner loads the tool's encoder and initial
    head with ``load_from``; its own draw of the head's initialisation comes
    after building the encoder, so differs).

    ``no-augmentation``: the train pipeline is the val pipeline, one view.
    ``seeded-augmentation``: the config's random frame sampling and crops,
    one cached view per epoch (``--views max_epochs``) and the sweep seed
    equal to the encoder seed: ``mmivnext.SeededSampler`` then gives view
    ``k`` of a clip the frames and crop the Runner draws for it in epoch
    ``k``.

    Exact on the CPU: the encoder's output for a clip does not depend on the
    other clips of its batch there (checked by this test: batches in index
    order for the cache, shuffled ones in the Runner), and the head sees the
    same features in the same order through the same operations.
    """
    cfg = probe_sweep.load_config(CONFIG, _as_dict(cfg_options(videos)))
    if not augment:
        cfg.train_dataloader.dataset.pipeline = copy.deepcopy(
            cfg.val_dataloader.dataset.pipeline)
    seed, lr = 3, 2e-3
    encoder_seed, views = (seed, 2) if augment else (0, 1)

    model, feats, labels = _train_features(cfg, encoder_seed, views)
    if augment:  # the views differ
        assert not torch.allclose(feats[0], feats[1])
    head, losses = probe_sweep.train_head(cfg, feats, labels, lr, seed)
    assert len(losses) == cfg.train_cfg.max_epochs == 2

    state = model.state_dict()
    initial_head = probe_sweep.build_head(cfg, seed).state_dict()
    state.update({f'cls_head.{k}': v for k, v in initial_head.items()})
    torch.save(dict(state_dict=state), tmp_path / 'init.pth')
    runner_cfg = copy.deepcopy(cfg)
    runner_cfg.work_dir = str(tmp_path / 'runner')
    runner_cfg.randomness = dict(seed=seed)
    runner_cfg.load_from = str(tmp_path / 'init.pth')
    runner_cfg.optim_wrapper.optimizer.lr = lr
    runner_cfg.default_hooks.checkpoint = None
    runner = build_runner(runner_cfg)
    runner.train()

    trained = runner.model.cls_head.state_dict()
    assert trained.keys() == initial_head.keys()
    for key, value in head.state_dict().items():
        assert not torch.equal(value, initial_head[key]), f'{key} is as init'
        torch.testing.assert_close(value, trained[key], rtol=0, atol=0,
                                   msg=f'{key} differs')
    # The Runner validated after the last epoch: evaluate() agrees.
    val_feats, val_labels = probe_sweep.extract_features(
        model, probe_sweep.build_feature_dataloader(cfg, 'val_dataloader',
                                                    encoder_seed))
    metrics = probe_sweep.evaluate(head, val_feats, val_labels)
    for k in ('top1', 'top5'):
        assert metrics[k] == pytest.approx(
            runner.message_hub.get_scalar(f'val/acc/{k}').current())


def test_missing_cls_head_names_the_key(videos, tmp_path):
    config = tmp_path / 'no_head.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n'
                      'model = dict(cls_head=None)\n')
    options = [o for o in cfg_options(videos)
               if not o.startswith('model.cls_head')]
    with pytest.raises(SystemExit, match=r'no `model\.cls_head`'):
        probe_sweep.main([str(config), '--work-dir', str(tmp_path / 'out'),
                          '--cfg-options', *options])
    assert not (tmp_path / 'out').exists()  # nothing built or written


@pytest.mark.parametrize('args, message', [
    (['--seeds'], 'the seed list is empty'),
    (['--seeds', '1', '1'], r'seed\(s\) \[1\] given more than once'),
    (['--lrs', '1e-3', '-0.01'], 'lr -0.01 is not a positive number'),
    (['--lrs', '0'], 'lr 0.0 is not a positive number'),
    (['--views', '0'], '--views: 0 is not a positive'),
], ids=['empty-seeds', 'repeated-seed', 'negative-lr', 'zero-lr', 'no-views'])
def test_bad_sweep_arguments_name_the_value(tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        probe_sweep.main([CONFIG, '--work-dir', str(tmp_path / 'out'), *args])
    assert not (tmp_path / 'out').exists()
