"""Class-mean recall@k of several classification tasks (EK100 anticipation:
verb, noun and action "mean top-5 recall")."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmivnext.registry import METRICS


@METRICS.register_module()
class ClassMeanRecallAtK(BaseMetric):
    """Class-mean recall@k per task.

    For a task and a ``k``: a sample is a hit when its true class is among
    the ``k`` highest scores. For each class ``c`` present in the ground
    truth of the evaluated set, ``recall_c`` is the fraction of its ``n_c``
    samples that are hits; the metric is the mean of ``recall_c`` over these
    classes, in percent::

        recall@k = 100 / |C| * sum_{c in C} hits_c / n_c,
        C = {classes with n_c > 0}

    Classes the set does not contain do not count (they have no recall).
    This is EK100's "mean top-5 recall" for anticipation (over all classes of
    the split; the leaderboard's "unseen" and "tail" subsets are not
    computed) and V-JEPA 2's ``ClassMeanRecall``. With ``k`` at least the
    number of classes every sample is a hit (recall 100). Ties between
    scores are broken as ``torch.topk`` breaks them.

    Each data sample must hold ``gt_<task>`` (an int, or a 0-d / 1-element
    tensor) and ``pred_<task>_score`` (a ``[num_classes]`` score tensor, the
    higher the likelier), e.g. as
    :class:`~mmivnext.models.probes.ActionAnticipationProbe` writes them.
    Only the top ``max(topk)`` class indices are kept per sample.

    Results are named ``<task>_mean_recall@<k>`` (with ``with_accuracy``
    also ``<task>_top<k>_acc``, the plain fraction of hits over samples).

    Args:
        topk (int | Sequence[int]): The ``k`` values. Defaults to 5.
        tasks (Sequence[str]): Task names. Defaults to
            ``('verb', 'noun', 'action')``.
        with_accuracy (bool): Also report the sample-mean top-k accuracy.
            Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where the results of
            all ranks are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def __init__(self,
                 topk: Union[int, Sequence[int]] = 5,
                 tasks: Sequence[str] = ('verb', 'noun', 'action'),
                 with_accuracy: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ValueError(f'topk must be positive ints, got {topk}.')
        if isinstance(tasks, str) or not tasks:
            raise ValueError(f'tasks must be a non-empty sequence of names, '
                             f'got {tasks!r}.')
        self.topk: Tuple[int, ...] = topk
        self.tasks: Tuple[str, ...] = tuple(tasks)
        self.with_accuracy = with_accuracy

    @staticmethod
    def _get(sample: dict, key: str):
        if key not in sample:
            raise KeyError(f'ClassMeanRecallAtK: a data sample has no {key!r}'
                           f' (it has {sorted(sample)}).')
        return sample[key]

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep, per sample and task, the true class and the top classes."""
        max_k = max(self.topk)
        for sample in data_samples:
            result = {}
            for task in self.tasks:
                gt = self._get(sample, f'gt_{task}')
                gt = int(gt.item() if torch.is_tensor(gt) else gt)
                scores = torch.as_tensor(
                    self._get(sample, f'pred_{task}_score'))
                if scores.dim() != 1:
                    raise ValueError(
                        f'pred_{task}_score must be [num_classes], got '
                        f'shape {tuple(scores.shape)}.')
                if not 0 <= gt < scores.numel():
                    raise ValueError(
                        f'gt_{task}={gt} is not a class of the '
                        f'{scores.numel()} scores of pred_{task}_score.')
                top = scores.topk(min(max_k, scores.numel())).indices
                result[task] = (gt, top.cpu().tolist())
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The metrics of all samples (class docstring)."""
        if not results:
            raise ValueError('ClassMeanRecallAtK: no samples were evaluated.')
        metrics = {}
        for task in self.tasks:
            gts = np.array([r[task][0] for r in results])
            tops = [r[task][1] for r in results]
            for k in self.topk:
                hits = np.array([gt in top[:k] for gt, top in zip(gts, tops)])
                recalls = [hits[gts == c].mean() for c in np.unique(gts)]
                metrics[f'{task}_mean_recall@{k}'] = \
                    100. * float(np.mean(recalls))
                if self.with_accuracy:
                    metrics[f'{task}_top{k}_acc'] = 100. * float(hits.mean())
        return metrics
