"""Frozen video encoder -> trained connector -> frozen LLM."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from .registry import MODELS

#: Qwen2's chat format with the video before the question.
QWEN2_PROMPT = ('<|im_start|>user\n{video}\n{question}<|im_end|>\n'
                '<|im_start|>assistant\n')


@MODELS.register_module()
class VideoLLMConnectorModel(BaseModel):
    """Stage-1 video-LLM training: only the connector learns.

    A clip goes through the frozen ``backbone`` (any model-zoo encoder with
    ``out_type='featmap'``: its token grid ``[B, C, T', H', W']``), the
    ``connector`` (pooling to the visual-token budget and an MLP to the LLM
    width) and into the frozen ``llm`` as input embeddings, in place of
    ``{video}`` in ``prompt_template``::

        <prefix tokens> <visual tokens> <question tokens> <response tokens>

    with ``prompt_template.split('{video}')`` giving the prefix and the
    question part (``{question}`` filled), and the response followed by
    ``response_suffix``. The backbone is frozen as in LiT: no gradients
    (so ``mmivnext.LayerDecayOptimWrapperConstructor`` leaves it out of the
    optimizer), eval mode, weights in the checkpoints; the LLM is frozen and
    held outside the checkpoints (:class:`FrozenCausalLM`).

    * ``loss``: next-token cross-entropy on the response tokens only
      (captioning and QA pairs; VideoChat-Flash stage 1), averaged over the
      batch's response tokens.
    * ``predict`` (multiple-choice QA): every candidate is scored by the
      LLM's log-likelihood of ``candidate + response_suffix`` as the
      response, summed over its tokens (``score='sum'``) or averaged
      (``'mean'``, length-normalised); writes ``mcq_scores``
      ``[num_candidates]``, ``gt_answer`` and ``task`` for
      ``mmivnext.MultipleChoiceAccuracy``.

    Args:
        backbone (dict): Video encoder config giving ``[B, C, T', H', W']``.
        connector (dict): Connector config; ``in_channels`` (from
            ``visual_dims``) and ``out_channels`` (the LLM's hidden size) are
            set here.
        llm (dict): LLM config (``FrozenCausalLM``).
        visual_dims (int): ``C``, the encoder's width.
        prompt_template (str): With one ``{video}`` and one ``{question}``.
            Defaults to Qwen2's chat format (:data:`QWEN2_PROMPT`).
        response_suffix (str): Text that ends a response. Defaults to
            ``'<|im_end|>'`` (Qwen2's end of turn).
        score (str): ``'sum'`` or ``'mean'`` (above). Defaults to ``'sum'``.
        data_preprocessor (dict, optional): E.g.
            ``mmaction.ActionDataPreprocessor``. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 connector: dict,
                 llm: dict,
                 visual_dims: int,
                 prompt_template: str = QWEN2_PROMPT,
                 response_suffix: str = '<|im_end|>',
                 score: str = 'sum',
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if prompt_template.count('{video}') != 1 or \
                prompt_template.count('{question}') != 1:
            raise ValueError(f'prompt_template needs one {{video}} and one '
                             f'{{question}}, got {prompt_template!r}')
        if prompt_template.index('{video}') > \
                prompt_template.index('{question}'):
            raise ValueError('prompt_template must put {video} before '
                             '{question}')
        if score not in ('sum', 'mean'):
            raise ValueError(f"score must be 'sum' or 'mean', got {score!r}")
        self.backbone = MODELS.build(backbone)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.llm = MODELS.build(llm)
        self.connector = MODELS.build(dict(
            connector, in_channels=visual_dims,
            out_channels=self.llm.hidden_size))
        self.prefix, self.question_part = prompt_template.split('{video}')
        self.response_suffix = response_suffix
        self.score = score

    def train(self, mode: bool = True) -> 'VideoLLMConnectorModel':
        """Set the mode; the backbone (and the LLM) stay in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    # ------------------------------------------------------------- pieces
    def extract_visual_tokens(self, inputs: Tensor) -> Tensor:
        """Visual tokens ``[B, V * n, D]`` of clips ``[B, V, C, T, H, W]``
        (the ``n`` tokens of each of the ``V`` views, one after the other).
        """
        B, V = inputs.shape[:2]
        with torch.no_grad():
            featmap = self.backbone(inputs.flatten(0, 1))
        tokens = self.connector(featmap)  # [B * V, n, D]
        return tokens.reshape(B, V * tokens.shape[1], -1)

    def _ids(self, text: str, device) -> Tensor:
        return torch.tensor(self.llm.tokenize(text), dtype=torch.long,
                            device=device)

    def build_sequences(
            self, visual: Sequence[Tensor], questions: Sequence[str],
            responses: Sequence[str]) -> Tuple[Tensor, Tensor, Tensor]:
        """Embed and right-pad the LLM inputs of a batch.

        Args:
            visual (Sequence[Tensor]): Per sequence, ``[n, D]`` visual
                tokens.
            questions (Sequence[str]): Per sequence, the question (prompt).
            responses (Sequence[str]): Per sequence, the response (without
                ``response_suffix``, added here).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``inputs_embeds [S, L, D]``,
            ``attention_mask [S, L]`` (1 on real tokens) and ``labels
            [S, L]`` (the token id on response tokens, -100 elsewhere).
        """
        device = visual[0].device
        prefix = self._ids(self.prefix, device)
        embeds, labels = [], []
        for tokens, question, response in zip(visual, questions, responses):
            text = self._ids(self.question_part.format(question=question),
                             device)
            target = self._ids(response + self.response_suffix, device)
            if target.numel() == 0:
                raise ValueError(f'The response {response!r} has no tokens.')
            ids = torch.cat([prefix, text, target])
            parts = self.llm.embed(ids)  # [L_text, D]
            n_pre = prefix.numel()
            embeds.append(torch.cat([parts[:n_pre],
                                     tokens.to(parts.dtype),
                                     parts[n_pre:]]))
            label = torch.full((len(embeds[-1]), ), -100, dtype=torch.long,
                               device=device)
            label[-target.numel():] = target
            labels.append(label)
        length = max(len(e) for e in embeds)
        mask = torch.zeros(len(embeds), length, dtype=torch.long,
                           device=device)
        for i, e in enumerate(embeds):
            mask[i, :len(e)] = 1
        inputs_embeds = torch.stack([F.pad(e, (0, 0, 0, length - len(e)))
                                     for e in embeds])
        labels = torch.stack([F.pad(lab, (0, length - len(lab)), value=-100)
                              for lab in labels])
        return inputs_embeds, mask, labels

    def response_log_likelihoods(self, inputs_embeds: Tensor, mask: Tensor,
                                 labels: Tensor) -> Tensor:
        """Per-token log-likelihoods ``[S, L - 1]`` of the labelled tokens
        (0 where the label is -100)."""
        logits = self.llm(inputs_embeds, mask)[:, :-1]  # [S, L - 1, V]
        target = labels[:, 1:]
        valid = target != -100
        logp = torch.log_softmax(logits, dim=-1).gather(
            -1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return logp * valid

    # ---------------------------------------------------------------- modes
    def forward(self, inputs: Tensor, data_samples=None,
                mode: str = 'tensor'):
        """``'loss'``, ``'predict'`` or ``'tensor'`` (the visual tokens)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_visual_tokens(inputs)
        raise ValueError(f'mode must be loss, predict or tensor, got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Next-token loss of the responses (``prompt`` / ``response`` of
        each data sample's metainfo)."""
        visual = self.extract_visual_tokens(inputs)  # [B, n, D]
        embeds, mask, labels = self.build_sequences(
            list(visual), [s.metainfo['prompt'] for s in data_samples],
            [s.metainfo['response'] for s in data_samples])
        logp = self.response_log_likelihoods(embeds, mask, labels)
        return dict(loss_lm=-logp.sum() / (labels[:, 1:] != -100).sum())

    def predict(self, inputs: Tensor, data_samples: list) -> List[dict]:
        """Score the candidates of each multiple-choice question."""
        missing = [k for k in ('question', 'candidates', 'answer')
                   if k not in data_samples[0].metainfo]
        if missing:
            raise KeyError(
                f'predict scores multiple-choice questions; the data samples '
                f'lack {missing} (VideoMCQDataset with PackActionInputs('
                "meta_keys=('question', 'candidates', 'answer', 'task'))).")
        visual = self.extract_visual_tokens(inputs)  # [B, n, D]
        seq_visual, questions, responses, counts = [], [], [], []
        for tokens, sample in zip(visual, data_samples):
            candidates = sample.metainfo['candidates']
            counts.append(len(candidates))
            seq_visual += [tokens] * len(candidates)
            questions += [sample.metainfo['question']] * len(candidates)
            responses += list(candidates)
        embeds, mask, labels = self.build_sequences(seq_visual, questions,
                                                    responses)
        logp = self.response_log_likelihoods(embeds, mask, labels)
        scores = logp.sum(1)  # [S]
        if self.score == 'mean':
            scores = scores / (labels[:, 1:] != -100).sum(1)
        outputs = []
        for part, sample in zip(scores.cpu().split(counts), data_samples):
            outputs.append(dict(mcq_scores=part,
                                gt_answer=int(sample.metainfo['answer']),
                                task=sample.metainfo.get('task')))
        return outputs
