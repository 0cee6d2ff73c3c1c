"""RepresentationMonitorHook in a real tiny Runner (tests/runner_helpers.py):
the demo recognizer's encoder checked every iteration on 24 labelled demo
clips (2 per class)."""
import json
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmivnext.engine.hooks import RepresentationMonitorHook
from mmivnext.engine.hooks.representation_monitor_hook import SCALARS
from mmivnext.testing import make_demo_videos
from runner_helpers import RECOGNIZER, tiny_recognizer_cfg, train

KEYS = ('knn_top1', 'linear_top1', 'feat_std', 'effective_rank', 'time')


@pytest.fixture(scope='module')
def monitor_videos(tmp_path_factory):
    """24 labelled clips, label ``i % 12``: two of each class."""
    return make_demo_videos(str(tmp_path_factory.mktemp('monitor_videos')),
                            num_train=24, num_val=0, num_frames=8, size=32)


def monitor_dataset(videos):
    """The recognizer config's val dataset (centre clip) on ``videos``, with
    the tiny encoder's 4 frames."""
    dataset = Config.fromfile(RECOGNIZER).val_dataloader.dataset
    dataset.ann_file = videos['train_list']
    dataset.data_prefix.video = videos['root']
    dataset.pipeline[1].clip_len = 4
    return dataset.to_dict()


def rng_states():
    return (random.getstate(), np.random.get_state()[1].tolist(),
            torch.random.get_rng_state())


def test_monitor_logs_scalars_and_detects_a_collapsed_encoder(
        demo_videos, monitor_videos, tmp_path):
    cfg = tiny_recognizer_cfg(demo_videos)
    cfg.custom_hooks = [dict(type='RepresentationMonitorHook',
                             dataset=monitor_dataset(monitor_videos),
                             interval=1, num_samples=24, batch_size=8,
                             probe_steps=20)]
    cfg.log_level = 'INFO'  # the monitor's line
    runner = train(cfg, tmp_path / 'run', max_epochs=1)  # 2 iterations
    [hook] = [h for h in runner.hooks
              if isinstance(h, RepresentationMonitorHook)]

    # Message hub, visualizer (vis_data/scalars.json) and log, at each
    # iteration.
    assert SCALARS == KEYS
    live = {k: runner.message_hub.get_scalar(f'monitor/{k}').current()
            for k in KEYS}
    [json_file] = list((tmp_path / 'run').glob('*/vis_data/scalars.json'))
    records = [json.loads(line)
               for line in json_file.read_text().splitlines()]
    monitored = [r for r in records if 'monitor/knn_top1' in r]
    assert [r['step'] for r in monitored] == [1, 2]
    assert all(f'monitor/{k}' in r for r in monitored for k in KEYS)
    [log_file] = list((tmp_path / 'run').glob('*/*.log'))
    assert 'Representation monitor, iter 2 (24 clips, 32 dims)' in \
        log_file.read_text()

    # A random encoder: features of several directions; both classifiers
    # score a fraction of the 12 query clips.
    dims = 32
    assert 0 <= live['knn_top1'] <= 1 and 0 <= live['linear_top1'] <= 1
    assert 0 < live['feat_std'] <= 1
    assert 1.5 < live['effective_rank'] <= min(24, dims)

    # A check draws no random numbers from the run's streams.
    before = rng_states()
    again = hook.check(runner)
    after = rng_states()
    assert before[0] == after[0] and before[1] == after[1]
    assert torch.equal(before[2], after[2])
    # Same weights, same data: the same figures.
    for k in KEYS[:-1]:
        assert again[k] == pytest.approx(live[k], rel=1e-6)

    # An encoder that ignores its input (patch embedding weights zero): every
    # clip gets the same features, up to float32 rounding between batches
    # (relative ~1e-7, so the second singular value is ~1e-6 of the first and
    # adds ~1e-4 at most to the entropy over 32 values).
    with torch.no_grad():
        runner.model.backbone.patch_embed.proj.weight.zero_()
    collapsed = hook.check(runner)
    assert collapsed['effective_rank'] == pytest.approx(1, abs=1e-3)
    assert collapsed['feat_std'] < 1e-5
    assert runner.message_hub.get_scalar(
        'monitor/effective_rank').current() == collapsed['effective_rank']

    # A list without labels is refused, naming the file and the sample.
    unlabelled = tmp_path / 'unlabelled.txt'
    unlabelled.write_text(''.join(
        line.split()[0] + '\n'
        for line in open(monitor_videos['train_list'])))
    dataset = monitor_dataset(monitor_videos)
    dataset['ann_file'] = str(unlabelled)
    with pytest.raises(ValueError, match=r'sample 0 of .*unlabelled\.txt has '
                       r'gt_label \[-1\]'):
        RepresentationMonitorHook(dataset=dataset).before_train(runner)


@pytest.mark.parametrize('kwargs, message', [
    (dict(interval=0), 'interval must be a positive int'),
    (dict(num_samples=3), r'num_samples must be an int >= 4'),
    (dict(probe_lr=0.0), 'must be positive'),
], ids=['interval', 'num-samples', 'probe-lr'])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RepresentationMonitorHook(dataset=dict(type='X'), **kwargs)
