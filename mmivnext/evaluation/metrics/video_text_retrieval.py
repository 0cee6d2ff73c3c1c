"""Zero-shot video-text retrieval: recall@k and median rank, both ways
(paper Table 10)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric

from mmivnext.registry import METRICS


def retrieval_ranks(similarity: torch.Tensor,
                    text_owner: torch.Tensor) -> Dict[str, np.ndarray]:
    """Ranks of the right answers in text-to-video and video-to-text search.

    A rank is 1 plus the number of candidates scored strictly higher than
    the right one (ties count in the query's favour).

    Args:
        similarity (Tensor): ``[N_texts, N_videos]`` scores, higher is
            closer.
        text_owner (Tensor): ``[N_texts]`` index of each text's video.

    Returns:
        dict: ``t2v`` ``[N_texts]`` (the rank of each text's video among all
        videos) and ``v2t`` ``[N_videos]`` (the best rank of a video's
        captions among all texts).
    """
    num_texts, num_videos = similarity.shape
    rows = torch.arange(num_texts)
    right = similarity[rows, text_owner]  # [N_texts]
    t2v = 1 + (similarity > right[:, None]).sum(1)
    owned = torch.zeros(num_texts, num_videos, dtype=torch.bool)
    owned[rows, text_owner] = True
    # Best score of each video's own captions, then texts above it.
    best = similarity.masked_fill(~owned, float('-inf')).max(0).values
    v2t = 1 + (similarity > best[None]).sum(0)
    return dict(t2v=t2v.numpy(), v2t=v2t.numpy())


@METRICS.register_module()
class VideoTextRetrievalMetric(BaseMetric):
    """Recall@k and median rank of zero-shot retrieval in both directions.

    Every data sample is one video with ``video_embedding`` ``[D]`` and
    ``text_embeddings`` ``[n, D]``, its ``n >= 1`` captions. All captions of
    the evaluated set are searched against all its videos by cosine
    similarity (the embeddings are L2-normalised here):

    * text-to-video (``t2v``): each caption is a query; its rank is that of
      its video among all videos;
    * video-to-text (``v2t``): each video is a query; its rank is the best
      rank of any of its captions among all captions (MSR-VTT / DiDeMo
      multi-caption convention).

    Ranks count the candidates scored strictly higher, plus one. Results:
    ``t2v_R@k`` and ``v2t_R@k`` (percent of queries with rank ``<= k``),
    ``t2v_MdR`` and ``v2t_MdR`` (median rank), and ``mean_R@k`` (the mean of
    the two directions' R@k).

    Args:
        topk (Sequence[int]): The ``k`` values. Defaults to ``(1, 5, 10)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        topk = tuple(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ValueError(f'topk must be positive ints, got {topk}.')
        self.topk = topk

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each video's embedding and its captions' embeddings."""
        for sample in data_samples:
            for key in ('video_embedding', 'text_embeddings'):
                if key not in sample:
                    raise KeyError(f'VideoTextRetrievalMetric: a data sample '
                                   f'has no {key!r} (it has '
                                   f'{sorted(sample)}).')
            video = torch.as_tensor(sample['video_embedding']).float()
            texts = torch.as_tensor(sample['text_embeddings']).float()
            if video.dim() != 1 or texts.dim() != 2 or \
                    texts.shape[0] < 1 or texts.shape[1] != video.shape[0]:
                raise ValueError(
                    f'VideoTextRetrievalMetric: video_embedding must be [D] '
                    f'and text_embeddings [n >= 1, D], got '
                    f'{tuple(video.shape)} and {tuple(texts.shape)}.')
            self.results.append((video.cpu(), texts.cpu()))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """The metrics of all videos (class docstring)."""
        if not results:
            raise ValueError('VideoTextRetrievalMetric: no videos were '
                             'evaluated.')
        videos = F.normalize(torch.stack([v for v, _ in results]), dim=-1)
        texts = F.normalize(torch.cat([t for _, t in results]), dim=-1)
        owner = torch.cat([torch.full((len(t), ), i)
                           for i, (_, t) in enumerate(results)])
        ranks = retrieval_ranks(texts.double() @ videos.double().t(), owner)
        metrics = {}
        for direction in ('t2v', 'v2t'):
            for k in self.topk:
                metrics[f'{direction}_R@{k}'] = \
                    100. * float((ranks[direction] <= k).mean())
            metrics[f'{direction}_MdR'] = float(np.median(ranks[direction]))
        for k in self.topk:
            metrics[f'mean_R@{k}'] = (metrics[f't2v_R@{k}'] +
                                      metrics[f'v2t_R@{k}']) / 2
        return metrics
