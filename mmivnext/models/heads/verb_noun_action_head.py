"""Attentive probe with one learnable query per task: verb, noun and action
classifiers (the EK100 anticipation probe, paper Table 8)."""
from typing import Dict, Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmivnext.registry import MODELS
from ..utils import init_linear_and_norm_
from .probe_heads import AttentivePooler


@MODELS.register_module()
class AttentiveVerbNounActionHead(BaseModule):
    """Three learnable queries pool the tokens; each feeds its own classifier.

    As V-JEPA 2's EK100 probe: an
    :class:`~mmivnext.models.heads.AttentivePooler` with three queries;
    query 0 is classified into verbs, query 1 into nouns, query 2 into
    actions, each by its own linear layer after dropout. :meth:`loss` returns
    one term per task, which MMEngine sums.

    Args:
        in_channels (int): Token width ``C``.
        num_verbs (int): Verb classes (97 in EK100).
        num_nouns (int): Noun classes (300 in EK100).
        num_actions (int): Action classes: the size of the (verb, noun) ->
            action map.
        num_heads (int): Attention heads of every block. Defaults to 16.
        num_self_attn_blocks, mlp_ratio, qkv_bias: As in
            :class:`~mmivnext.models.heads.AttentivePooler`;
            ``num_self_attn_blocks`` defaults to 3.
        dropout_ratio (float): Dropout before the classifiers. Defaults to 0.
        init_std (float): Std of the trunc-normal init of the linear layers
            and the queries (biases 0, LayerNorms 1 / 0). Defaults to 0.02.
        loss (dict): Loss of each task, called as ``loss(logits, labels)``.
            Defaults to ``dict(type='mmivnext.SigmoidFocalLoss')``.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.

    Parameters: ``pooler``, ``fc_verb``, ``fc_noun``, ``fc_action``.
    """

    #: The tasks, in the order of the queries.
    TASKS = ('verb', 'noun', 'action')

    def __init__(self,
                 in_channels: int,
                 num_verbs: int,
                 num_nouns: int,
                 num_actions: int,
                 num_heads: int = 16,
                 num_self_attn_blocks: int = 3,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 dropout_ratio: float = 0.,
                 init_std: float = 0.02,
                 loss: dict = dict(type='mmivnext.SigmoidFocalLoss'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_classes = dict(verb=num_verbs, noun=num_nouns, action=num_actions)
        bad = {k: v for k, v in num_classes.items() if v < 1}
        if bad:
            raise ValueError(f'Every task needs at least one class, got {bad}.')
        self.in_channels = in_channels
        self.num_classes: Dict[str, int] = num_classes
        self.init_std = init_std
        self.pooler = AttentivePooler(
            in_channels, num_heads, num_queries=len(self.TASKS),
            num_self_attn_blocks=num_self_attn_blocks, mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc_verb = nn.Linear(in_channels, num_verbs)
        self.fc_noun = nn.Linear(in_channels, num_nouns)
        self.fc_action = nn.Linear(in_channels, num_actions)
        self.loss_module = MODELS.build(loss)
        self._default_init()

    @torch.no_grad()
    def _default_init(self) -> None:
        init_linear_and_norm_(self, self.init_std)
        nn.init.trunc_normal_(self.pooler.query, std=self.init_std)

    def pool(self, x: Tensor) -> Tensor:
        """Pool tokens ``[B, L, C]`` into one vector per task ``[B, 3, C]``."""
        return self.pooler(x)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Logits of each task.

        Args:
            x (Tensor): Tokens ``[B, L, C]``.

        Returns:
            dict[str, Tensor]: float32 logits ``verb [B, num_verbs]``,
            ``noun [B, num_nouns]``, ``action [B, num_actions]``.
        """
        pooled = self.dropout(self.pool(x))  # [B, 3, C]
        return dict(
            verb=self.fc_verb(pooled[:, 0]).float(),
            noun=self.fc_noun(pooled[:, 1]).float(),
            action=self.fc_action(pooled[:, 2]).float())

    def loss(self, x: Tensor, labels: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The loss of each task.

        Args:
            x (Tensor): Tokens ``[B, L, C]``.
            labels (dict[str, Tensor]): ``verb``, ``noun`` and ``action``
                LongTensors ``[B]``.

        Returns:
            dict[str, Tensor]: ``loss_verb``, ``loss_noun``, ``loss_action``.
        """
        missing = [t for t in self.TASKS if t not in labels]
        if missing:
            raise KeyError(f'labels has no {missing}; got {sorted(labels)}.')
        logits = self(x)
        return {f'loss_{task}': self.loss_module(logits[task], labels[task])
                for task in self.TASKS}

    @staticmethod
    def scores(logits: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Per-class scores of each task: ``sigmoid(logits)``, the
        probabilities of the one-vs-all classifiers the focal loss trains
        (any monotone map gives the same top-k)."""
        return {task: value.sigmoid() for task, value in logits.items()}
