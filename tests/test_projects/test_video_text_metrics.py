"""The metrics of the multimodal projects (they live in
mmivnext/evaluation/metrics/)."""
import pytest
import torch

from mmivnext.evaluation.metrics import (MultipleChoiceAccuracy,
                                         VideoTextRetrievalMetric)
from mmivnext.evaluation.metrics.video_text_retrieval import retrieval_ranks


def _retrieval(samples):
    metric = VideoTextRetrievalMetric(topk=(1, 5))
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_retrieval_by_hand():
    # Videos v0 = (1, 0), v1 = (0, 1); captions t0, t1 of v0 and t2 of v1.
    # t2v: t0 -> v0 first (rank 1); t1 = (.6, .8) prefers v1 (rank 2);
    # t2 = (.8, .6) prefers v0 (rank 2). v2t: v0's best caption t0 (1.0) is
    # first (rank 1); v1's only caption t2 (.6) is behind t1 (.8) (rank 2).
    # Scales do not matter: the metric normalises.
    samples = [
        dict(video_embedding=torch.tensor([2., 0.]),
             text_embeddings=torch.tensor([[1., 0.], [3., 4.]])),
        dict(video_embedding=torch.tensor([0., 1.]),
             text_embeddings=torch.tensor([[.8, .6]])),
    ]
    metrics = _retrieval(samples)
    assert metrics['t2v_R@1'] == pytest.approx(100 / 3)
    assert metrics['t2v_R@5'] == 100
    assert metrics['t2v_MdR'] == 2
    assert metrics['v2t_R@1'] == 50
    assert metrics['v2t_MdR'] == 1.5
    assert metrics['mean_R@1'] == pytest.approx((100 / 3 + 50) / 2)


def test_retrieval_ranks_match_sorting():
    # One caption per video, no ties: ranks are positions in the sorted
    # similarities (both directions).
    gen = torch.Generator().manual_seed(0)
    sim = torch.randn(7, 7, generator=gen, dtype=torch.float64)
    ranks = retrieval_ranks(sim, torch.arange(7))
    order_t2v = sim.argsort(1, descending=True)
    order_v2t = sim.t().argsort(1, descending=True)
    for i in range(7):
        assert ranks['t2v'][i] == (order_t2v[i] == i).nonzero().item() + 1
        assert ranks['v2t'][i] == (order_v2t[i] == i).nonzero().item() + 1


def test_retrieval_rejects_bad_samples():
    with pytest.raises(KeyError, match='text_embeddings'):
        _retrieval([dict(video_embedding=torch.zeros(2))])
    with pytest.raises(ValueError, match=r'\[n >= 1, D\]'):
        _retrieval([dict(video_embedding=torch.zeros(2),
                         text_embeddings=torch.zeros(1, 3))])


def test_multiple_choice_accuracy():
    metric = MultipleChoiceAccuracy()
    metric.process(None, [
        dict(mcq_scores=torch.tensor([-1., -2., -3.]), gt_answer=0,
             task='shape'),
        dict(mcq_scores=torch.tensor([-1., -1.]), gt_answer=1,
             task='shape'),  # a tie is wrong
        dict(mcq_scores=torch.tensor([-5., -4., -6., -7.]), gt_answer=1,
             task='direction'),
        dict(mcq_scores=torch.tensor([0., 1.]), gt_answer=0,
             task='direction'),
        dict(mcq_scores=torch.tensor([0., 1.]), gt_answer=1,
             task='direction'),
    ])
    metrics = metric.compute_metrics(metric.results)
    assert metrics == pytest.approx({
        'acc': 60., 'acc/shape': 50., 'acc/direction': 200 / 3,
        'mean_task_acc': (50 + 200 / 3) / 2})
    with pytest.raises(ValueError, match='gt_answer=2'):
        metric.process(None, [dict(mcq_scores=torch.zeros(2), gt_answer=2)])
