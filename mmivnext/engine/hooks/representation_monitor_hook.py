"""Representation quality and collapse of the encoder during pretraining."""
import copy
import time
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import DATASETS
from torch import Tensor, nn
from torch.distributed.fsdp import FullyShardedDataParallel

from mmivnext.evaluation.functional import (effective_rank, feature_std,
                                            knn_top1, linear_probe_top1,
                                            pool_features)
from mmivnext.registry import HOOKS
from mmivnext.utils.random_state import seeded_rngs

#: Scalars logged at every check, under ``<prefix>/``.
SCALARS = ('knn_top1', 'linear_top1', 'feat_std', 'effective_rank', 'time')


@HOOKS.register_module()
class RepresentationMonitorHook(Hook):
    """Every ``interval`` training iterations, measure how good and how
    collapsed the current encoder's features are on a small labelled set.

    At ``before_train`` the first ``num_samples`` samples of ``dataset`` (a
    labelled list with a deterministic pipeline, e.g. the val split) are run
    through the pipeline once and kept as collated uint8 clips (host memory
    ``num_samples x 3 x T x H x W`` bytes). At every check the encoder
    (``model.backbone``, unwrapped from DDP) runs in eval mode under
    ``torch.no_grad()`` on the model's ``data_preprocessor`` output; its
    output is pooled to one vector per clip
    (:func:`~mmivnext.evaluation.functional.pool_features`; the clips of a
    sample with several are averaged). The samples of each class alternate
    between the bank / train half (its 1st, 3rd, ... sample) and the query /
    test half (2nd, 4th, ...), whatever the list's order. Logged, under
    ``prefix``:

    * ``knn_top1``: :func:`~mmivnext.evaluation.functional.knn_top1` of the
      queries against the bank (``knn_k``, ``knn_temperature``);
    * ``linear_top1``:
      :func:`~mmivnext.evaluation.functional.linear_probe_top1`
      trained on the train half for ``probe_steps`` full-batch momentum
      steps of size ``probe_lr``, tested on the other;
    * ``feat_std``: :func:`~mmivnext.evaluation.functional.feature_std` of all
      ``N`` features (about ``1 / sqrt(C)`` when spread, 0 when collapsed);
    * ``effective_rank``:
      :func:`~mmivnext.evaluation.functional.effective_rank` of all ``N``
      features (1 for a constant encoder, at most ``min(N, C)``);
    * ``time``: seconds the check took.

    They go to the message hub (``runner.message_hub.get_scalar(
    'monitor/knn_top1')``), to the visualizer's backends at step
    ``runner.iter + 1`` (``add_scalars``: ``vis_data/scalars.json`` of
    ``LocalVisBackend``, TensorBoard with ``TensorboardVisBackend``) and one
    line of the log.

    **Cost.** A check is one no-grad encoder forward over ``num_samples``
    clips plus ``probe_steps`` steps of an ``[N/2, C] x [C, K]`` classifier;
    decoding happens once. Bound it with ``num_samples`` and ``interval``:
    ``benchmarks/bench_monitor_hook.py`` prints its time as a ratio to the
    ``interval`` train steps it follows (docs/benchmarks.md).

    **Side effects.** None on training: the check runs inside
    :func:`~mmivnext.utils.random_state.seeded_rngs` ``(seed)``, so the
    pipeline's and the probe's draws leave the run's random streams as they
    were, and the encoder's train / eval mode is put back. In distributed
    runs only the main process checks (the others go on to the next
    iteration and wait for it there); models sharded with FSDP or DeepSpeed
    ZeRO-3, whose encoder forward needs every rank, are refused.

    Args:
        dataset (dict): Config of a labelled dataset (every sample has an
            integer ``gt_label`` of one class). Not modified.
        interval (int): Training iterations between checks. Defaults to 500.
        num_samples (int): Samples of ``dataset`` used (its first ones;
            fewer if it has fewer, at least 4). Defaults to 256.
        batch_size (int): Clips per encoder forward. Defaults to 16.
        knn_k (int): Neighbours of the kNN vote. Defaults to 10.
        knn_temperature (float): Temperature of the vote. Defaults to 0.07.
        probe_steps (int): Gradient steps of the linear probe. Defaults to
            100.
        probe_lr (float): Step size of the probe. Defaults to 0.1.
        seed (int): Seed of the pipeline's random draws. Defaults to 0.
        prefix (str): Scalar name prefix. Defaults to ``'monitor'``.
    """

    priority = 'NORMAL'  # after the optimizer step, before the logger

    def __init__(self,
                 dataset: dict,
                 interval: int = 500,
                 num_samples: int = 256,
                 batch_size: int = 16,
                 knn_k: int = 10,
                 knn_temperature: float = 0.07,
                 probe_steps: int = 100,
                 probe_lr: float = 0.1,
                 seed: int = 0,
                 prefix: str = 'monitor') -> None:
        for name, value in (('interval', interval), ('batch_size',
                                                     batch_size),
                            ('knn_k', knn_k), ('probe_steps', probe_steps)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f'RepresentationMonitorHook: {name} must be '
                                 f'a positive int, got {value!r}')
        if not (isinstance(num_samples, int) and num_samples >= 4):
            raise ValueError('RepresentationMonitorHook: num_samples must be '
                             'an int >= 4 (two per half), got '
                             f'{num_samples!r}')
        if not (knn_temperature > 0 and probe_lr > 0):
            raise ValueError('RepresentationMonitorHook: knn_temperature and '
                             'probe_lr must be positive, got '
                             f'{knn_temperature!r} and {probe_lr!r}')
        self.dataset_cfg = copy.deepcopy(dataset)
        self.interval = interval
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.knn_k = knn_k
        self.knn_temperature = knn_temperature
        self.probe_steps = probe_steps
        self.probe_lr = probe_lr
        self.seed = seed
        self.prefix = prefix
        self._batches: List[dict] = []
        self._labels: Optional[Tensor] = None
        self._is_query: Optional[Tensor] = None
        self._shape: Tuple[int, int] = (0, 0)

    @staticmethod
    def _encoder(runner) -> Tuple[nn.Module, nn.Module]:
        """The unwrapped model and its encoder, checked to run alone."""
        model = runner.model
        if any(isinstance(m, FullyShardedDataParallel)
               for m in model.modules()):
            raise TypeError('RepresentationMonitorHook does not work with '
                            'FSDP: the encoder forward of one rank needs the '
                            'shards of all ranks. Train with DDP or leave the '
                            'hook out.')
        if is_model_wrapper(model):
            model = model.module
        backbone = getattr(model, 'backbone', None)
        if backbone is None:
            raise TypeError('RepresentationMonitorHook needs a model with a '
                            f'`backbone` (the encoder); {type(model).__name__}'
                            ' has none.')
        if any(hasattr(p, 'ds_id') for p in backbone.parameters()):
            raise TypeError('RepresentationMonitorHook does not work with '
                            'DeepSpeed ZeRO-3 (sharded encoder parameters).')
        return model, backbone

    def before_train(self, runner) -> None:
        self._encoder(runner)  # fail before the first iteration
        if not is_main_process():
            return
        dataset = DATASETS.build(copy.deepcopy(self.dataset_cfg))
        num = min(self.num_samples, len(dataset))
        if num < 4:
            raise ValueError(f'RepresentationMonitorHook: the dataset has '
                             f'{len(dataset)} samples; at least 4 are needed '
                             '(two per half)')
        samples = []
        with seeded_rngs(self.seed):
            for index in range(num):
                sample = dataset[index]
                label = sample['data_samples'].gt_label
                if label.numel() != 1 or int(label) < 0:
                    raise ValueError(
                        f'RepresentationMonitorHook: sample {index} of '
                        f'{getattr(dataset, "ann_file", "the dataset")} has '
                        f'gt_label {label.tolist()}; the monitor needs one '
                        'class index >= 0 per sample (a labelled list)')
                samples.append(sample)
        num_bytes = self.cache(samples)
        runner.logger.info(
            f'RepresentationMonitorHook: {num} clips of '
            f'{type(dataset).__name__} cached ({num_bytes / 2**20:.1f} MiB), '
            f'checked every {self.interval} iterations')

    def cache(self, samples: List[dict]) -> int:
        """Keep ``samples`` (``PackActionInputs`` dicts, one class each) as
        batches of ``batch_size`` and split them (see the class notes);
        returns the bytes of their inputs."""
        labels = [int(s['data_samples'].gt_label) for s in samples]
        self._batches = [
            pseudo_collate(samples[i:i + self.batch_size])
            for i in range(0, len(samples), self.batch_size)
        ]
        self._labels = torch.tensor(labels)  # [N]
        # The 2nd, 4th, ... sample of each class.
        seen: Dict[int, int] = {}
        is_query = []
        for label in labels:
            is_query.append(seen.get(label, 0) % 2 == 1)
            seen[label] = seen.get(label, 0) + 1
        self._is_query = torch.tensor(is_query)  # [N] bool
        if not self._is_query.any():
            raise ValueError(
                f'RepresentationMonitorHook: no class has two of the '
                f'{len(samples)} samples; the kNN and probe need a test half')
        return sum(s['inputs'].numel() * s['inputs'].element_size()
                   for s in samples)

    @torch.no_grad()
    def features(self, model: nn.Module) -> Tensor:
        """The pooled features ``[N, C]`` (float32, CPU) of the cached samples
        by ``model.backbone``, after ``model.data_preprocessor``."""
        backbone = model.backbone
        was_training = backbone.training
        backbone.eval()
        feats = []
        try:
            for batch in self._batches:
                inputs = model.data_preprocessor(batch, False)['inputs']
                num_clips = 1
                if inputs.dim() == 6:  # [B, S, C, T, H, W] (Recognizer3D)
                    num_clips = inputs.shape[1]
                    inputs = inputs.flatten(0, 1)  # [B * S, C, T, H, W]
                x = pool_features(backbone(inputs))  # [B * S, C]
                feats.append(x.view(-1, num_clips, x.shape[-1]).mean(1).cpu())
        finally:
            backbone.train(was_training)
        feats = torch.cat(feats)  # [N', C]
        if len(feats) != len(self._labels):
            raise RuntimeError(
                f'RepresentationMonitorHook: {len(feats)} feature rows for '
                f'{len(self._labels)} samples; the data preprocessor folds '
                'clips into the batch: give the monitor a pipeline with one '
                'clip per sample')
        return feats

    def measure(self, model: nn.Module) -> Dict[str, float]:
        """The scalars (see the class notes) of ``model``'s encoder on the
        cached samples."""
        start = time.perf_counter()
        with seeded_rngs(self.seed):
            feats = self.features(model)  # [N, C]
            labels, is_query = self._labels, self._is_query
            bank, queries = feats[~is_query], feats[is_query]
            bank_labels, query_labels = labels[~is_query], labels[is_query]
            scalars = dict(
                knn_top1=knn_top1(bank, bank_labels, queries, query_labels,
                                  self.knn_k, self.knn_temperature),
                linear_top1=linear_probe_top1(
                    bank, bank_labels, queries, query_labels,
                    self.probe_steps, self.probe_lr),
                feat_std=feature_std(feats),
                effective_rank=effective_rank(feats))
        scalars['time'] = time.perf_counter() - start
        self._shape = tuple(feats.shape)
        return scalars

    def check(self, runner) -> Dict[str, float]:
        """Measure the runner's encoder, log and return the scalars."""
        model, _ = self._encoder(runner)
        scalars = self.measure(model)
        num, dims = self._shape
        tagged = {f'{self.prefix}/{k}': v for k, v in scalars.items()}
        for key, value in tagged.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(tagged, step=runner.iter + 1)
        runner.logger.info(
            f'Representation monitor, iter {runner.iter + 1} ({num} clips, '
            f'{dims} dims): kNN top-1 '
            f'{scalars["knn_top1"]:.4f}, linear top-1 '
            f'{scalars["linear_top1"]:.4f}, feature std '
            f'{scalars["feat_std"]:.4f} (1/sqrt(C) = '
            f'{dims ** -0.5:.4f}), effective rank '
            f'{scalars["effective_rank"]:.2f} of {min(num, dims)}, '
            f'{scalars["time"]:.2f} s')
        return scalars

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self.every_n_train_iters(runner, self.interval) and \
                is_main_process():
            self.check(runner)
