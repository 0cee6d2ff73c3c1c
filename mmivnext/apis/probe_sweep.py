"""Probe sweeps on cached frozen-encoder features (the library of
``tools/probe_sweep.py``).

:func:`run_sweep` caches the frozen encoder's features of a probe config's
train set (``views`` passes of its pipeline) and val set once, then trains a
fresh head of the config for every (lr, seed) on the cache
(:func:`train_head`), evaluates it (:func:`evaluate`) and summarises each lr
as mean ± std over the seeds (:func:`summarize`). Bad configs or arguments
raise :class:`SweepError` naming the file, key or value.

**The same probe.** The model is the config's (built in its
``default_scope``, ``init_weights()``: a ``Pretrained`` encoder loads, then
``eval()``). Each pass runs the model's ``data_preprocessor`` and the
backbone, as ``Recognizer3D.extract_feat`` does in training, once under
``torch.no_grad()``: the cached features are the backbone's output (raw
tokens ``[B, L, C]`` for the probe heads), which is what the head receives in
``tools/train.py CONFIG``, since the backbone is frozen and in eval mode there
too (a backbone with trainable parameters is refused). For every (lr, seed)
:func:`train_head` then trains a fresh head of ``cfg.model.cls_head`` with
the config's parts, as MMEngine's ``Runner`` does:

* the optimizer wrapper of ``cfg.optim_wrapper`` (constructor,
  ``paramwise_cfg``, ``clip_grad``; only ``optimizer.lr`` replaced), built
  for the head wrapped as ``cls_head`` (:class:`HeadOnly`), so that parameter
  names are those of the recognizer;
* the ``param_scheduler`` list, with the Runner's default ``end`` and epoch
  length (``convert_to_iter_based``); iter-based schedulers step after every
  iteration, epoch-based ones after every epoch (``ParamSchedulerHook``);
* ``train_cfg.max_epochs`` epochs of ``train_dataloader.batch_size``, with the
  dataloader's ``drop_last``, in MMEngine's ``DefaultSampler`` order for the
  seed: ``torch.randperm(N)`` of a ``torch.Generator`` seeded with
  ``seed + epoch`` (the order of the config's ``DefaultSampler`` or
  ``mmivnext.SeededSampler`` in a Runner whose ``randomness.seed`` is the
  seed), or in index order with ``shuffle=False``;
* MMEngine's ``train_step``: the head's ``loss(feats, data_samples)``,
  ``parse_losses``, ``optim_wrapper.update_params``.

Given the same initial head and no dropout, a run therefore ends with the
same head as the Runner over the frozen encoder with ``randomness.seed`` = the
seed: bit for bit on the CPU, without augmentation, and with
``mmivnext.SeededSampler`` augmentation for ``views = max_epochs`` and the seed
equal to ``encoder_seed`` (see *Limits*);
``tests/test_apis/test_probe_sweep.py`` checks both. On a GPU the encoder's
kernels may round a clip differently in another batch, so expect agreement
to float32 rounding there.
Evaluation (:func:`evaluate`) runs the head in eval mode on the val features
and averages its scores over the clips of a sample with the head's
``average_clip`` (mmaction2's ``predict_by_feat``), then top-1 / top-5 with
``mmaction.evaluation.functional.top_k_accuracy``, as ``AccMetric``.

**Seeds.** Everything cached is drawn once per run from ``encoder_seed``
(default 0): a random encoder (``model.backbone.init_cfg=None``: MMEngine's
``set_random_seed(encoder_seed)``, then building and ``init_weights``) and
the augmentations of the views. Only the heads vary with the sweep seeds: the
head's initialisation (``set_random_seed(seed)``, then building and
``init_weights``), the shuffling and the dropout masks.

**Limits.**

* No augmentation beyond the cached views: ``views = K`` passes of the train
  pipeline, and epoch ``e`` trains on view ``e % K``. Pass ``k`` draws its
  samples with ``mmivnext.SeededSampler`` (seed ``encoder_seed``, epoch
  ``k``): with ``mmivnext.UnlabeledVideoDataset``, view ``k`` of a sample is
  the augmentation a Runner with ``randomness.seed`` = ``encoder_seed``
  draws for it in epoch ``k``. Other datasets draw from the generators of the
  DataLoader workers (seeded per pass) or of the main process (seeded per
  pass with ``num_workers=0``).
* The head's initial weights are not the Runner's: the Runner draws them
  after building and initialising the encoder. They come from the same
  distribution.
* The head's dropout is active in training (the head is in train mode, as in
  the Runner), but its masks come from another stream of random numbers than
  in the Runner, where DataLoader seeds are drawn from the same generator.
* Refused, since cached features cannot reproduce them: a ``neck``, batch
  blending (mixup / cutmix in ``data_preprocessor``), a backbone with
  trainable parameters, several clips per train sample, samplers other than
  ``DefaultSampler`` / ``SeededSampler``, a ``batch_sampler``, iteration-based
  training and ``auto_scale_lr``.
* Every feature is kept in memory as float32: ``(K x N_train + N_val x
  clips) x L x C x 4`` bytes (logged); meant for probe sets that fit.
* One process on one device (``device``); no distributed training.
"""
import contextlib
import copy
import logging
import math
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmaction.evaluation.functional import top_k_accuracy
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.logging import print_log
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import MODELS, PARAM_SCHEDULERS, DefaultScope
from mmengine.runner import Runner, set_random_seed
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader
from tqdm import tqdm

from mmivnext.utils.random_state import seeded_rngs

#: Training samplers whose order :func:`epoch_batches` reproduces.
SAMPLERS = ('DefaultSampler', 'SeededSampler')
#: Top-k accuracies reported.
TOPK = (1, 5)


class SweepError(ValueError):
    """A probe config or sweep argument that a sweep cannot use; the message
    names the file, key or value."""


def check_sweep_args(seeds: Sequence[int], lrs: Sequence[float],
                     views: int) -> None:
    """Raise SweepError naming the value for an empty or repeated seed list,
    a non-positive or non-finite lr, a repeated lr or ``views < 1``."""
    if not seeds:
        raise SweepError('seeds: the seed list is empty; give at least one '
                         'seed')
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        raise SweepError(f'seeds: seed(s) {repeated} given more than once '
                         '(the std over seeds would count them twice)')
    if not lrs:
        raise SweepError('lrs: the lr list is empty; give at least one lr '
                         "or leave lrs out for the config's")
    for lr in lrs:
        if not (math.isfinite(lr) and lr > 0):
            raise SweepError(f'lrs: lr {lr!r} is not a positive number')
    if len(set(lrs)) != len(lrs):
        raise SweepError(f'lrs: {list(lrs)} repeats an lr')
    if views < 1:
        raise SweepError(f'views: {views} is not a positive number of '
                         'views')


def get_value(cfg, dotted: str):
    """``cfg``'s value at ``dotted`` (e.g. ``'model.cls_head'``), or None."""
    value = cfg
    for key in dotted.split('.'):
        value = value.get(key) if isinstance(value, (dict, Config)) else None
        if value is None:
            return None
    return value


def _type_name(type_) -> str:
    """A registry type without its scope (``'mmivnext.X'`` -> ``'X'``)."""
    if isinstance(type_, str):
        return type_.rsplit('.', 1)[-1]
    return getattr(type_, '__name__', repr(type_))


def check_config(cfg: Config, config: str) -> None:
    """Raise SweepError naming the file and the key for what a probe sweep
    needs and lacks, or has and cannot reproduce from cached features (see
    the module notes, *Limits*)."""
    for key in ('model.cls_head', 'model.backbone', 'train_dataloader',
                'val_dataloader', 'train_cfg.max_epochs', 'optim_wrapper'):
        if get_value(cfg, key) is None:
            raise SweepError(f'{config}: no `{key}`; a probe sweep needs '
                             '`model.backbone`, `model.cls_head`, '
                             '`train_dataloader`, `val_dataloader`, '
                             '`train_cfg.max_epochs` and `optim_wrapper`')
    if get_value(cfg, 'model.neck') is not None:
        raise SweepError(f'{config}: `model.neck` is set; probe_sweep caches '
                         "the backbone's output and trains the head alone")
    if get_value(cfg, 'model.data_preprocessor.blending') is not None:
        raise SweepError(
            f'{config}: `model.data_preprocessor.blending` '
            f'({cfg.model.data_preprocessor.blending.get("type")}) mixes '
            'inputs in training, which cached features cannot reproduce')
    loop_type = cfg.train_cfg.get('type', 'EpochBasedTrainLoop')
    if _type_name(loop_type) != 'EpochBasedTrainLoop':
        raise SweepError(f'{config}: `train_cfg.type` is {loop_type!r}; '
                         'probe_sweep trains by epochs (EpochBasedTrainLoop)')
    if get_value(cfg, 'auto_scale_lr.enable'):
        raise SweepError(f'{config}: `auto_scale_lr.enable` is set; '
                         'probe_sweep takes the given lrs as they are')
    if get_value(cfg, 'optim_wrapper.optimizer') is None:
        raise SweepError(f'{config}: no `optim_wrapper.optimizer` (one '
                         'optimizer; several are not supported)')
    loader = cfg.train_dataloader
    if loader.get('batch_sampler') is not None:
        raise SweepError(f'{config}: `train_dataloader.batch_sampler` is set; '
                         'probe_sweep batches as a DataLoader with '
                         '`batch_size` and `drop_last`')
    sampler = loader.get('sampler') or {}
    if _type_name(sampler.get('type')) not in SAMPLERS:
        raise SweepError(f'{config}: `train_dataloader.sampler.type` is '
                         f'{sampler.get("type")!r}; probe_sweep reproduces '
                         f'the order of {" / ".join(SAMPLERS)} only')
    if loader.get('batch_size') is None:
        raise SweepError(f'{config}: no `train_dataloader.batch_size`')


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """The config file with ``cfg_options`` merged (``custom_imports`` are
    imported by ``Config.fromfile``), checked by :func:`check_config`."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_config(cfg, config)
    return cfg


@contextlib.contextmanager
def config_scope(cfg: Config) -> Iterator[None]:
    """Build inside the config's ``default_scope`` (as a Runner does)."""
    scope = cfg.get('default_scope', None)
    if scope is None:
        yield
        return
    with DefaultScope.overwrite_default_scope(scope):
        yield


def encoder_checkpoint(cfg: Config) -> Optional[str]:
    """The ``checkpoint`` of ``model.backbone.init_cfg`` if it is (or lists) a
    ``Pretrained`` init, else None (a random encoder)."""
    init_cfg = cfg.model.backbone.get('init_cfg')
    for item in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
        if isinstance(item, dict) and _type_name(item.get('type')) == \
                'Pretrained':
            return item.get('checkpoint')
    return None


def build_model(cfg: Config, encoder_seed: int = 0,
                device: str = 'cpu') -> nn.Module:
    """The config's model with its weights initialised, in eval mode.

    ``set_random_seed(encoder_seed)`` first, so that a random encoder is the
    same in every run with that seed.

    Raises:
        SweepError: The backbone has trainable parameters, or layers that
            ``model.train()`` leaves in training mode (names the first ones
            and ``model.backbone.frozen_stages``).
    """
    set_random_seed(encoder_seed)
    with config_scope(cfg):
        model = MODELS.build(copy.deepcopy(cfg.model))
        model.init_weights()
    trainable = [name for name, p in model.backbone.named_parameters()
                 if p.requires_grad]
    if trainable:
        raise SweepError(
            f'model.backbone has {len(trainable)} trainable parameter(s) '
            f'({", ".join(trainable[:3])}...); probe_sweep caches the '
            'features of a frozen encoder: set `model.backbone.frozen_stages` '
            'to all layers')
    # What a Runner's model.train() leaves in training mode (dropout, batch
    # norm) would compute other features than the cached eval-mode ones.
    model.train()
    live = [name for name, m in model.backbone.named_modules()
            if m.training and not list(m.children())]
    if live:
        raise SweepError(
            f'model.backbone: {len(live)} layer(s) stay in training mode when '
            f'the model trains ({", ".join(live[:3])}...), so training would '
            'not see the cached eval-mode features; freeze the whole backbone '
            '(`model.backbone.frozen_stages`)')
    return model.to(device).eval()


def _pass_seed(seed: int, view: int) -> int:
    """A well-mixed 32-bit seed of ``(seed, view)`` for one feature pass."""
    return int(np.random.SeedSequence([seed, view]).generate_state(1)[0])


def build_feature_dataloader(cfg: Config, key: str, seed: int,
                             view: int = 0) -> DataLoader:
    """``cfg[key]`` (``'train_dataloader'`` or ``'val_dataloader'``) as a
    DataLoader over the whole set in index order, for pass ``view``.

    The sampler is ``mmivnext.SeededSampler(shuffle=False)`` with ``seed`` and
    epoch ``view`` (per-sample augmentation seeds for datasets that read
    them); DataLoader workers are seeded with :func:`_pass_seed`
    ``(seed, view)`` and not persistent; no sample is dropped. The rest
    (dataset, pipeline, ``batch_size``, ``num_workers``, ``collate_fn``,
    ``num_batch_per_epoch``) is the config's, built by MMEngine's
    ``Runner.build_dataloader``.
    """
    loader_cfg = copy.deepcopy(cfg[key])
    loader_cfg.pop('batch_sampler', None)
    loader_cfg['sampler'] = dict(type='mmivnext.SeededSampler', shuffle=False,
                                 seed=seed)
    loader_cfg['persistent_workers'] = False
    loader_cfg['drop_last'] = False  # every sample is cached
    with config_scope(cfg):
        loader = Runner.build_dataloader(loader_cfg,
                                         seed=_pass_seed(seed, view))
    loader.sampler.set_epoch(view)
    return loader


def _one_tensor(x, where: str) -> Tensor:
    if isinstance(x, (tuple, list)):
        if len(x) != 1:
            raise ValueError(f'{where}: the backbone returned {len(x)} '
                             'tensors; probe_sweep caches one (a single '
                             'out_indices)')
        x = x[0]
    return x


@torch.no_grad()
def cache_features(model: nn.Module, dataloader: DataLoader,
                     seed: Optional[int] = None,
                     desc: str = 'features') -> Tuple[Tensor, Tensor]:
    """Run the frozen encoder once over ``dataloader``.

    As ``Recognizer3D`` in training: ``data_preprocessor``, then the inputs
    ``[B, S, C, T, H, W]`` flattened to ``[B * S, C, T, H, W]`` and
    ``extract_feat(..., stage='backbone')``. The loop runs inside
    :func:`~mmivnext.utils.random_state.seeded_rngs` ``(seed)``, so that a
    pipeline run in the main process (``num_workers=0``) draws from ``seed``.
    Shows one tqdm bar.

    Args:
        model (nn.Module): A ``Recognizer3D`` in eval mode.
        dataloader (DataLoader): Yields the samples in index order.
        seed (int, optional): Seed of the main process's generators during
            the pass. Defaults to None (left as they are).
        desc (str): Label of the progress bar.

    Returns:
        tuple[Tensor, Tensor]: float32 CPU features ``[N, S, L, C]`` (``S``
        clips per sample, the backbone's output per clip, e.g. raw tokens
        ``[L, C]``) and int64 labels ``[N]``.

    Raises:
        ValueError: A sample without a single ``gt_label``, or clips per
            sample that change within the set.
    """
    feats, labels = [], []
    with seeded_rngs(seed):
        for batch in tqdm(dataloader, desc=desc, unit='batch',
                          dynamic_ncols=True):
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            num_clips = inputs.shape[1]
            x, _ = model.extract_feat(inputs, stage='backbone')
            x = _one_tensor(x, desc)  # [B * S, L, C]
            feats.append(x.float().reshape(len(samples), num_clips,
                                           *x.shape[1:]).cpu())
            for sample in samples:
                label = sample.gt_label
                if label.numel() != 1:
                    raise ValueError(
                        f'{desc}: a sample has gt_label of shape '
                        f'{tuple(label.shape)}; probe_sweep reports top-k '
                        'accuracy of single-label sets')
                labels.append(int(label.item()))
    shapes = {tuple(f.shape[1:]) for f in feats}
    if len(shapes) != 1:
        raise ValueError(f'{desc}: feature shapes [S, ...] differ between '
                         f'batches: {sorted(shapes)}')
    return torch.cat(feats), torch.tensor(labels, dtype=torch.int64)


class HeadOnly(BaseModel):
    """A probe head alone, named as in the recognizer (``cls_head.*``).

    ``forward(inputs, data_samples, mode)`` is the head's ``loss`` (``'loss'``)
    or its class scores (``'tensor'``), so that MMEngine's ``train_step``
    (``parse_losses``, ``update_params``) trains it on cached features.

    Args:
        head (nn.Module): An mmaction2 ``BaseHead``.
    """

    def __init__(self, head: nn.Module) -> None:
        super().__init__(data_preprocessor=BaseDataPreprocessor())
        self.cls_head = head

    def get_layer_depth(self, param_name: str) -> Tuple[int, int]:
        """``(0, 1)``: lr scale 1 under ``LayerDecayOptimWrapperConstructor``,
        which the recognizer's head gets too (outside the backbone)."""
        return 0, 1

    def forward(self, inputs: Tensor, data_samples=None,
                mode: str = 'tensor'):
        """``'loss'``: the head's loss dict; ``'tensor'``: class scores
        ``[B, num_classes]`` of features ``[B, L, C]``."""
        if mode == 'loss':
            return self.cls_head.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.cls_head(inputs)
        raise ValueError(f"HeadOnly: mode must be 'loss' or 'tensor', got "
                         f'{mode!r}')


def build_head(cfg: Config, seed: int) -> nn.Module:
    """A fresh head of ``cfg.model.cls_head``: ``set_random_seed(seed)``,
    building in the config's scope, then ``init_weights()``."""
    set_random_seed(seed)
    with config_scope(cfg):
        head = MODELS.build(copy.deepcopy(cfg.model.cls_head))
    head.init_weights()
    return head


def iters_per_epoch(num_samples: int, batch_size: int,
                    drop_last: bool = False) -> int:
    """Batches of ``batch_size`` in ``num_samples``, as a DataLoader counts
    them."""
    if drop_last:
        return num_samples // batch_size
    return math.ceil(num_samples / batch_size)


def epoch_batches(num_samples: int, batch_size: int, seed: int, epoch: int,
                  shuffle: bool = True,
                  drop_last: bool = False) -> List[List[int]]:
    """The index batches of one epoch, as a DataLoader over MMEngine's
    ``DefaultSampler(shuffle, seed)`` at ``epoch`` (one process) gives them:
    ``torch.randperm`` of a generator seeded with ``seed + epoch``."""
    sampler = DefaultSampler(range(num_samples), shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    return list(BatchSampler(sampler, batch_size, drop_last))


def _data_samples(labels: Tensor) -> List[ActionDataSample]:
    """One ``ActionDataSample`` per label, ``gt_label`` ``[1]`` as
    ``PackActionInputs`` sets it."""
    return [ActionDataSample().set_gt_label(int(label)) for label in labels]


def build_schedulers(cfg: Config, optim_wrapper: OptimWrapper,
                     iters_per_epoch: int) -> list:
    """The config's ``param_scheduler`` (a dict, a list or None) as the
    Runner builds it: ``end`` defaults to ``max_epochs`` (by epoch) or
    ``max_epochs * iters_per_epoch`` (by iteration), ``epoch_length`` is
    ``iters_per_epoch`` (for ``convert_to_iter_based``)."""
    scheduler_cfgs = cfg.get('param_scheduler', None) or []
    if isinstance(scheduler_cfgs, dict):
        scheduler_cfgs = [scheduler_cfgs]
    max_epochs = cfg.train_cfg.max_epochs
    schedulers = []
    with config_scope(cfg):
        for scheduler_cfg in scheduler_cfgs:
            scheduler_cfg = copy.deepcopy(scheduler_cfg)
            scheduler_cfg.setdefault(
                'end', max_epochs if scheduler_cfg.get('by_epoch', True)
                else max_epochs * iters_per_epoch)
            schedulers.append(PARAM_SCHEDULERS.build(
                scheduler_cfg, default_args=dict(
                    optimizer=optim_wrapper, epoch_length=iters_per_epoch)))
    return schedulers


def _train_settings(cfg: Config) -> Tuple[int, int, bool, bool]:
    loader = cfg.train_dataloader
    sampler = loader.get('sampler') or {}
    return (int(cfg.train_cfg.max_epochs), int(loader.batch_size),
            bool(sampler.get('shuffle', True)),
            bool(loader.get('drop_last', False)))


def _current_lr(optim_wrapper: OptimWrapper) -> float:
    return float(optim_wrapper.param_groups[0]['lr'])


def train_head(cfg: Config,
               feats: Sequence[Tensor],
               labels: Tensor,
               lr: float,
               seed: int,
               device: str = 'cpu',
               logger: Optional[logging.Logger] = None
               ) -> Tuple[nn.Module, List[float]]:
    """Train a fresh head of ``cfg`` on cached features, as the Runner would.

    See the module notes (*The same probe*). The head is
    :func:`build_head` ``(cfg, seed)``; the optimizer wrapper is
    ``cfg.optim_wrapper`` with ``optimizer.lr = lr``; epoch ``e`` trains on
    view ``e % V`` in :func:`epoch_batches` order for ``seed``.

    Args:
        cfg (Config): A config checked by :func:`check_config`.
        feats (Sequence[Tensor]): ``V`` cached views of the train set, each
            ``[N, L, C]`` (a ``[V, N, L, C]`` tensor works too).
        labels (Tensor): int64 labels ``[N]``.
        lr (float): The optimizer's lr.
        seed (int): Seed of the head's initialisation, order and dropout.
        device (str): Device of the head. Features move there per batch.
        logger (logging.Logger, optional): Gets the loss and lr of every
            epoch. Defaults to MMEngine's current logger.

    Returns:
        tuple[nn.Module, list[float]]: The trained head (on ``device``) and
        the mean loss of every epoch.
    """
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f'lr must be a positive number, got {lr!r}')
    views = list(feats)
    if not views or any(v.shape[0] != len(labels) for v in views):
        raise ValueError(f'feats must be V >= 1 views of {len(labels)} '
                         f'samples each, got shapes '
                         f'{[tuple(v.shape) for v in views]}')
    max_epochs, batch_size, shuffle, drop_last = _train_settings(cfg)
    num_iters = iters_per_epoch(len(labels), batch_size, drop_last)
    if num_iters == 0:
        raise ValueError(f'{len(labels)} train samples make no batch of '
                         f'{batch_size} with drop_last=True')
    logger = logger or 'current'

    model = HeadOnly(build_head(cfg, seed)).to(device)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    optim_cfg.optimizer.lr = lr
    with config_scope(cfg):
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    schedulers = build_schedulers(cfg, optim_wrapper, num_iters)
    optim_wrapper.initialize_count_status(model, 0, max_epochs * num_iters)

    epoch_losses = []
    for epoch in range(max_epochs):
        view = views[epoch % len(views)]
        model.train()
        losses = []
        lr_start = _current_lr(optim_wrapper)
        for indices in epoch_batches(len(labels), batch_size, seed, epoch,
                                     shuffle, drop_last):
            data = dict(inputs=view[indices],
                        data_samples=_data_samples(labels[indices]))
            log_vars = model.train_step(data, optim_wrapper)
            losses.append(log_vars['loss'].item())
            for scheduler in schedulers:
                if not scheduler.by_epoch:
                    scheduler.step()
        for scheduler in schedulers:
            if scheduler.by_epoch:
                scheduler.step()
        epoch_losses.append(sum(losses) / len(losses))
        print_log(f'lr={lr:g} seed={seed} epoch {epoch + 1}/{max_epochs} '
                  f'(view {epoch % len(views)}): loss {epoch_losses[-1]:.4f}, '
                  f'lr {lr_start:.4g} -> {_current_lr(optim_wrapper):.4g}',
                  logger=logger)
    return model.cls_head, epoch_losses


@torch.no_grad()
def evaluate(head: nn.Module, feats: Tensor, labels: Tensor,
             batch_size: int = 64, device: str = 'cpu') -> Dict[str, float]:
    """Top-1 / top-5 accuracy of ``head`` on cached val features.

    As ``Recognizer3D.predict`` + ``AccMetric``: the head in eval mode, its
    scores of the ``S`` clips of a sample averaged by its ``average_clip``,
    then ``top_k_accuracy``.

    Args:
        head (nn.Module): An mmaction2 ``BaseHead``.
        feats (Tensor): ``[N, S, L, C]`` (``S`` clips per sample) or
            ``[N, L, C]`` (one clip).
        labels (Tensor): int64 labels ``[N]``.
        batch_size (int): Samples per forward. Defaults to 64.
        device (str): Device of the head. Defaults to 'cpu'.

    Returns:
        dict: ``top1`` and ``top5``, fractions in ``[0, 1]``.
    """
    if feats.dim() == 3:
        feats = feats[:, None]  # [N, 1, L, C]
    if feats.shape[0] != len(labels):
        raise ValueError(f'{feats.shape[0]} feature rows for {len(labels)} '
                         'labels')
    head.eval()
    num_clips = feats.shape[1]
    scores = []
    for start in range(0, len(labels), batch_size):
        x = feats[start:start + batch_size].to(device)  # [b, S, L, C]
        x = x.flatten(0, 1)  # [b * S, L, C]
        cls_scores = head(x)  # [b * S, num_classes]
        scores.append(head.average_clip(cls_scores, num_segs=num_clips).cpu())
    scores = torch.cat(scores).float().numpy()  # [N, num_classes]
    top1, top5 = top_k_accuracy(list(scores), labels.tolist(), TOPK)
    return dict(top1=float(top1), top5=float(top5))


def summarize(runs: Sequence[dict], lrs: Sequence[float]) -> List[dict]:
    """Per lr: ``num_seeds`` and the mean and population std (``ddof=0``)
    over the seeds of ``top1`` and ``top5``."""
    summary = []
    for lr in lrs:
        top1 = np.array([r['top1'] for r in runs if r['lr'] == lr])
        top5 = np.array([r['top5'] for r in runs if r['lr'] == lr])
        summary.append(dict(lr=lr, num_seeds=len(top1),
                            top1_mean=float(top1.mean()),
                            top1_std=float(top1.std()),
                            top5_mean=float(top5.mean()),
                            top5_std=float(top5.std())))
    return summary


def format_table(summary: Sequence[dict], num_val: int) -> str:
    """The terminal table: one line per lr, accuracies in %."""
    lines = [f'{"lr":>10}  {"top-1 (%)":>15}  {"top-5 (%)":>15}  '
             f'{"seeds":>5}  {"val clips":>9}']
    for row in summary:
        top1 = f'{100 * row["top1_mean"]:.2f} ± {100 * row["top1_std"]:.2f}'
        top5 = f'{100 * row["top5_mean"]:.2f} ± {100 * row["top5_std"]:.2f}'
        lines.append(f'{row["lr"]:>10.3g}  {top1:>15}  {top5:>15}  '
                     f'{row["num_seeds"]:>5}  {num_val:>9}')
    return '\n'.join(lines)


def run_sweep(cfg: Config, seeds: Sequence[int], lrs: Sequence[float],
              views: int = 1, encoder_seed: int = 0,
              device: str = 'cpu') -> dict:
    """Cache the features once, then train and evaluate a head per
    (lr, seed).

    Returns:
        dict: The JSON's entries from ``encoder_checkpoint`` on (see the
        module notes); ``config`` and ``name`` are the caller's.
    """
    check_sweep_args(seeds, lrs, views)
    model = build_model(cfg, encoder_seed, device)
    train_feats, train_labels = [], None
    for view in range(views):
        loader = build_feature_dataloader(cfg, 'train_dataloader',
                                          encoder_seed, view)
        feats, labels = cache_features(
            model, loader, seed=_pass_seed(encoder_seed, view),
            desc=f'train view {view + 1}/{views}')
        if train_labels is None:
            train_labels = labels
        elif not torch.equal(labels, train_labels):
            raise RuntimeError(f'train view {view + 1}: the labels differ '
                               'from the first view\'s; the train set must '
                               'give the same samples in every pass')
        if feats.shape[1] != 1:
            raise SweepError(
                f'train_dataloader: the pipeline gives {feats.shape[1]} clips '
                'per sample; the probe heads train on one (num_clips=1)')
        train_feats.append(feats[:, 0])  # [N, L, C]
    val_loader = build_feature_dataloader(cfg, 'val_dataloader',
                                          encoder_seed)
    val_feats, val_labels = cache_features(
        model, val_loader, seed=_pass_seed(encoder_seed, 0), desc='val')
    num_bytes = 4 * (sum(f.numel() for f in train_feats) + val_feats.numel())
    print_log(f'Cached features: train {views} x {tuple(train_feats[0].shape)}'
              f', val {tuple(val_feats.shape)} ({num_bytes / 2**20:.1f} MiB '
              'float32)', logger='current')
    del model
    if device.startswith('cuda'):
        torch.cuda.empty_cache()

    max_epochs, batch_size, _, drop_last = _train_settings(cfg)
    runs = []
    progress = tqdm(total=len(lrs) * len(seeds), desc='heads', unit='run',
                    dynamic_ncols=True)
    for lr in lrs:
        for seed in seeds:
            head, losses = train_head(cfg, train_feats, train_labels, lr,
                                      seed, device=device)
            metrics = evaluate(head, val_feats, val_labels,
                               batch_size=cfg.val_dataloader.get(
                                   'batch_size', 64), device=device)
            runs.append(dict(lr=lr, seed=seed, **metrics,
                             train_loss=losses[-1]))
            print_log(f'lr={lr:g} seed={seed}: top1 {metrics["top1"]:.4f}, '
                      f'top5 {metrics["top5"]:.4f}, final train loss '
                      f'{losses[-1]:.4f}', logger='current')
            progress.update()
    progress.close()
    return dict(
        encoder_checkpoint=encoder_checkpoint(cfg),
        encoder_seed=encoder_seed,
        seeds=list(seeds),
        lrs=list(lrs),
        views=views,
        num_train=len(train_labels),
        num_val=len(val_labels),
        max_epochs=max_epochs,
        batch_size=batch_size,
        iters_per_epoch=iters_per_epoch(len(train_labels), batch_size,
                                        drop_last),
        std='population std over seeds (ddof=0)',
        runs=runs,
        summary=summarize(runs, lrs))
