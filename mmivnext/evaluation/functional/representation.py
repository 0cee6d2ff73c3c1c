"""Quality and collapse statistics of a batch of encoder features.

Used by :class:`~mmivnext.engine.hooks.RepresentationMonitorHook` to follow a
pretraining run on a small labelled subset:

* :func:`knn_top1`: weighted k-nearest-neighbour classification by cosine
  similarity (the vote of Wu et al., 2018, "Unsupervised Feature Learning via
  Non-Parametric Instance Discrimination", as DINO's ``eval_knn`` uses it);
* :func:`linear_probe_top1`: a softmax classifier trained for a few
  full-batch gradient steps on standardised features;
* :func:`feature_std`: the per-dimension std of L2-normalised features
  (SimSiam, Chen & He, 2021, Sec. 4.1: about ``1 / sqrt(C)`` for features
  spread over the sphere, 0 for a collapsed encoder);
* :func:`effective_rank`: ``exp`` of the entropy of the normalised singular
  values (Roy & Vetterli, 2007; RankMe, Garrido et al., 2023): between 1
  (all features on one line, e.g. a constant encoder) and ``min(N, C)``.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def pool_features(x: Union[Tensor, tuple, list]) -> Tensor:
    """One vector per clip from a ``VisionTransformer3D`` output.

    Args:
        x (Tensor | tuple[Tensor]): ``[B, C]`` (``cls_token``,
            ``avg_featmap``, ``projected``), tokens ``[B, L, C]`` (``raw``;
            averaged over ``L``) or a map ``[B, C, T, H, W]`` (``featmap``;
            averaged over ``T, H, W``). A tuple (several ``out_indices``)
            gives its last entry.

    Returns:
        Tensor: float32 ``[B, C]``.
    """
    if isinstance(x, (tuple, list)):
        x = x[-1]
    if x.dim() == 3:
        x = x.mean(dim=1)  # [B, C]
    elif x.dim() == 5:
        x = x.mean(dim=(2, 3, 4))  # [B, C]
    elif x.dim() != 2:
        raise ValueError('expected encoder features [B, C], [B, L, C] or '
                         f'[B, C, T, H, W], got shape {tuple(x.shape)}')
    return x.float()


def feature_std(feats: Tensor) -> float:
    """Mean over the ``C`` dimensions of the std over the ``N`` samples of
    the L2-normalised features ``[N, C]`` (population std)."""
    z = F.normalize(feats.double(), dim=1)  # [N, C]
    return float(z.std(dim=0, unbiased=False).mean())


def effective_rank(feats: Tensor) -> float:
    """``exp(-sum p log p)`` of the singular values ``s`` of the
    L2-normalised features ``[N, C]`` (not centred), ``p = s / sum(s)``.

    Computed in float64; terms with ``p = 0`` count 0. All-zero features
    have no direction and raise ValueError.
    """
    z = F.normalize(feats.double(), dim=1)  # [N, C]
    s = torch.linalg.svdvals(z)  # [min(N, C)]
    if s.sum() == 0:
        raise ValueError('effective_rank: every feature vector is zero')
    p = s / s.sum()
    entropy = -(p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum()
    return float(torch.exp(entropy))


def knn_top1(bank: Tensor, bank_labels: Tensor, queries: Tensor,
             query_labels: Tensor, k: int = 10,
             temperature: float = 0.07) -> float:
    """Top-1 accuracy of a weighted kNN vote.

    Each query takes its ``k`` most cosine-similar bank features (``k``
    capped at the bank size); neighbour ``j`` adds ``exp(sim_j /
    temperature)`` to its class; the class with the largest sum wins.

    Args:
        bank (Tensor): ``[M, C]`` features with int labels ``[M]``.
        bank_labels (Tensor): ``[M]``.
        queries (Tensor): ``[Q, C]`` features with int labels ``[Q]``.
        query_labels (Tensor): ``[Q]``.
        k (int): Neighbours per query. Defaults to 10.
        temperature (float): Of the vote weights. Defaults to 0.07.

    Returns:
        float: Fraction of queries whose winning class is their label.
    """
    bank = F.normalize(bank.double(), dim=1)
    queries = F.normalize(queries.double(), dim=1)
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    sims = queries @ bank.T  # [Q, M]
    top_sims, top_idx = sims.topk(min(k, len(bank)), dim=1)  # [Q, k]
    votes = torch.zeros(len(queries), num_classes, dtype=torch.float64)
    votes.scatter_add_(1, bank_labels[top_idx],
                       torch.exp(top_sims / temperature))  # [Q, classes]
    return float((votes.argmax(dim=1) == query_labels).double().mean())


def linear_probe_top1(train: Tensor, train_labels: Tensor, test: Tensor,
                      test_labels: Tensor, steps: int = 100,
                      lr: float = 0.1) -> float:
    """Test top-1 accuracy of a linear softmax classifier trained for
    ``steps`` full-batch gradient steps with momentum 0.9
    (``torch.optim.SGD``'s update, written out: the mean cross-entropy's
    gradient in closed form, no autograd), no weight decay.

    Features are standardised by the train set's per-dimension mean and std;
    weights and bias start at zero, so the result draws no random numbers.
    Computed in float64. Momentum SGD rather than Adam: Adam's per-weight
    step sizes move the weights of pure-noise dimensions as fast as the
    informative ones, which with a few samples per class costs accuracy.

    Args:
        train (Tensor): ``[N, C]`` features with int labels ``[N]``.
        train_labels (Tensor): ``[N]``.
        test (Tensor): ``[Q, C]`` features with int labels ``[Q]``.
        test_labels (Tensor): ``[Q]``.
        steps (int): Gradient steps. Defaults to 100.
        lr (float): Step size. Defaults to 0.1.

    Returns:
        float: Fraction of test features classified as their label.
    """
    weight, bias, mean, std = fit_linear_probe(train, train_labels, steps,
                                               lr)
    num_classes = int(test_labels.max()) + 1
    if num_classes > len(bias):
        weight = F.pad(weight, (0, num_classes - len(bias)))
        bias = F.pad(bias, (0, num_classes - len(bias)))
    predicted = (((test.double() - mean) / std) @ weight + bias).argmax(1)
    return float((predicted == test_labels).double().mean())


def fit_linear_probe(train: Tensor, labels: Tensor, steps: int,
                     lr: float) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The classifier of :func:`linear_probe_top1`: float64 ``weight [C, K]``,
    ``bias [K]`` (``K = labels.max() + 1``) and the standardisation's
    ``mean [C]`` and ``std [C]``; logits are ``((x - mean) / std) @ weight +
    bias``."""
    train = train.double()
    mean = train.mean(dim=0)
    std = train.std(dim=0, unbiased=False).clamp_min(1e-6)
    x = (train - mean) / std  # [N, C]
    targets = F.one_hot(labels).double()  # [N, K]
    weight = x.new_zeros(x.shape[1], targets.shape[1])  # [C, K]
    bias = x.new_zeros(targets.shape[1])  # [K]
    weight_velocity, bias_velocity = torch.zeros_like(weight), \
        torch.zeros_like(bias)
    for _ in range(steps):
        # d(mean cross-entropy) / d(logits)
        grad = (torch.softmax(x @ weight + bias, dim=1) - targets) / len(x)
        weight_velocity.mul_(0.9).add_(x.T @ grad)  # [C, K]
        bias_velocity.mul_(0.9).add_(grad.sum(dim=0))  # [K]
        weight.sub_(lr * weight_velocity)
        bias.sub_(lr * bias_velocity)
    return weight, bias, mean, std
