"""Accuracy of multiple-choice answers (video QA: MVBench, Perception Test;
paper Table 11)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmivnext.registry import METRICS


@METRICS.register_module()
class MultipleChoiceAccuracy(BaseMetric):
    """Accuracy of picking the highest-scored candidate answer.

    Each data sample holds ``mcq_scores`` (``[num_candidates]``, higher is
    more likely, e.g. an LLM's log-likelihood of each candidate),
    ``gt_answer`` (the index of the right candidate) and optionally
    ``task`` (a question type). A question is right when its right
    candidate's score is strictly the highest (a tie with another candidate
    counts as wrong).

    Results, in percent: ``acc`` over all questions; with tasks also
    ``acc/<task>`` per task and ``mean_task_acc``, their unweighted mean
    (MVBench reports the mean over its 20 tasks).

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep whether each question was right, and its task."""
        for sample in data_samples:
            for key in ('mcq_scores', 'gt_answer'):
                if key not in sample:
                    raise KeyError(f'MultipleChoiceAccuracy: a data sample '
                                   f'has no {key!r} (it has '
                                   f'{sorted(sample)}).')
            scores = torch.as_tensor(sample['mcq_scores']).flatten()
            answer = int(sample['gt_answer'])
            if not 0 <= answer < scores.numel():
                raise ValueError(f'gt_answer={answer} is not one of the '
                                 f'{scores.numel()} candidates.')
            others = torch.cat([scores[:answer], scores[answer + 1:]])
            right = bool(others.numel() == 0 or
                         scores[answer] > others.max())
            self.results.append((right, sample.get('task')))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """The accuracies (class docstring)."""
        if not results:
            raise ValueError('MultipleChoiceAccuracy: no questions were '
                             'evaluated.')
        metrics = dict(acc=100. * float(np.mean([r for r, _ in results])))
        by_task = defaultdict(list)
        for right, task in results:
            if task is not None:
                by_task[str(task)].append(right)
        if by_task:
            for task in sorted(by_task):
                metrics[f'acc/{task}'] = 100. * float(np.mean(by_task[task]))
            metrics['mean_task_acc'] = float(np.mean(
                [metrics[f'acc/{task}'] for task in by_task]))
        return metrics
