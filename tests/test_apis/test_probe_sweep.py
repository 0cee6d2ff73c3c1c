"""mmivnext.apis.probe_sweep on a tiny demo set with a tiny random encoder
(tests/probe_sweep_helpers.py): a head trained on cached features is the
head MMEngine's Runner trains over the frozen encoder, and what a sweep
cannot reproduce is refused by name."""
import copy

import pytest
import torch

from mmivnext.apis import probe_sweep
from mmivnext.apis.probe_sweep import SweepError
from mmivnext.engine.runner import build_runner
from probe_sweep_helpers import CONFIG, as_dict, cfg_options, write_videos


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return write_videos(str(tmp_path_factory.mktemp('probe_sweep_videos')))


def _train_features(cfg, encoder_seed, views):
    """The sweep's encoder and its ``views`` cached passes over the train set
    (``[N, L, C]`` each) with the labels ``[N]``."""
    model = probe_sweep.build_model(cfg, encoder_seed=encoder_seed)
    feats = []
    for view in range(views):
        loader = probe_sweep.build_feature_dataloader(
            cfg, 'train_dataloader', encoder_seed, view)
        view_feats, labels = probe_sweep.cache_features(model, loader)
        feats.append(view_feats[:, 0])
    return model, feats, labels


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='bit-exact CPU check (the Runner would train on '
                    'the GPU)')
@pytest.mark.parametrize('augment', [False, True],
                         ids=['no-augmentation', 'seeded-augmentation'])
def test_cached_head_equals_runner_head(videos, tmp_path, augment):
    """The key test: train_head on cached features ends with exactly the head
    that MMEngine's Runner (tools/train.py's) trains end to end over the
    frozen encoder, for the same seed (shuffle order), lr and schedule, from
    the same initial head (the Runner loads the sweep's encoder and initial
    head with ``load_from``; its own draw of the head's initialisation comes
    after building the encoder, so differs).

    ``no-augmentation``: the train pipeline is the val pipeline, one view.
    ``seeded-augmentation``: the config's random frame sampling and crops,
    one cached view per epoch (``views = max_epochs``) and the sweep seed
    equal to the encoder seed: ``mmivnext.SeededSampler`` then gives view
    ``k`` of a clip the frames and crop the Runner draws for it in epoch
    ``k``.

    Exact on the CPU: the encoder's output for a clip does not depend on the
    other clips of its batch there (checked by this test: batches in index
    order for the cache, shuffled ones in the Runner), and the head sees the
    same features in the same order through the same operations.
    """
    cfg = probe_sweep.load_config(CONFIG, as_dict(cfg_options(videos)))
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
    val_feats, val_labels = probe_sweep.cache_features(
        model, probe_sweep.build_feature_dataloader(cfg, 'val_dataloader',
                                                    encoder_seed))
    metrics = probe_sweep.evaluate(head, val_feats, val_labels)
    for k in ('top1', 'top5'):
        assert metrics[k] == pytest.approx(
            runner.message_hub.get_scalar(f'val/acc/{k}').current())


def test_summarize_is_mean_and_population_std_per_lr():
    runs = [dict(lr=1e-3, seed=0, top1=0.5, top5=1.0),
            dict(lr=1e-3, seed=1, top1=0.25, top5=0.5),
            dict(lr=1e-2, seed=0, top1=0.75, top5=1.0)]
    first, second = probe_sweep.summarize(runs, [1e-3, 1e-2])
    assert first == dict(lr=1e-3, num_seeds=2, top1_mean=0.375,
                         top1_std=0.125, top5_mean=0.75, top5_std=0.25)
    assert second['num_seeds'] == 1 and second['top1_std'] == 0.0
    table = probe_sweep.format_table([first, second], num_val=12)
    assert '37.50 ± 12.50' in table and '75.00 ± 25.00' in table


@pytest.mark.parametrize('key, value, message', [
    ('model.neck', dict(type='X'), r'`model\.neck` is set'),
    ('train_cfg.type', 'IterBasedTrainLoop', r'`train_cfg\.type` is'),
    ('auto_scale_lr.enable', True, r'`auto_scale_lr\.enable` is set'),
    ('train_dataloader.sampler.type', 'InfiniteSampler',
     r'`train_dataloader\.sampler\.type` is \'InfiniteSampler\''),
], ids=['neck', 'iter-based', 'auto-scale-lr', 'sampler'])
def test_unreproducible_configs_are_refused_by_key(videos, key, value,
                                                   message):
    options = as_dict(cfg_options(videos))
    options[key] = value
    with pytest.raises(SweepError, match=message):
        probe_sweep.load_config(CONFIG, options)


@pytest.mark.parametrize('seeds, lrs, views, message', [
    ([], [1e-3], 1, 'the seed list is empty'),
    ([1, 1], [1e-3], 1, r'seed\(s\) \[1\] given more than once'),
    ([0], [1e-3, -0.01], 1, 'lr -0.01 is not a positive number'),
    ([0], [0.0], 1, 'lr 0.0 is not a positive number'),
    ([0], [1e-3, 1e-3], 1, 'repeats an lr'),
    ([0], [1e-3], 0, 'views: 0 is not a positive'),
], ids=['empty-seeds', 'repeated-seed', 'negative-lr', 'zero-lr',
        'repeated-lr', 'no-views'])
def test_bad_sweep_arguments_name_the_value(seeds, lrs, views, message):
    with pytest.raises(SweepError, match=message):
        probe_sweep.check_sweep_args(seeds, lrs, views)
