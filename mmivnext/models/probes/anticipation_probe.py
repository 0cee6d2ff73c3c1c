"""Action anticipation probe on EPIC-KITCHENS-100 (paper section 4.2, Table 8).

"The model predicts the future action given a contextual video clip. The
outputs of the predictor and encoder are concatenated along the token dimension
and fed to an attentive probe layer and three classification heads." The
encoder and the predictor are the frozen Stage-2 ones; the predictor (the
"latent world model") fills the token positions of frames after the context
with its mask token and predicts them, as it predicts masked tokens in Stage 2.
See ``docs/probe_anticipation.md`` for the protocol.
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmivnext.registry import MODELS
from mmivnext.utils.checkpoint_io import load_state_dict_file

#: Tasks of the probe and the data-sample fields of their labels / scores.
TASKS = ('verb', 'noun', 'action')


def _key_list(keys: Sequence[str], limit: int = 10) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' ... ({len(keys) - limit} more)'
                    if len(keys) > limit else '')


@MODELS.register_module()
class ActionAnticipationProbe(BaseModel):
    """Frozen encoder + frozen Stage-2 predictor + attentive verb / noun /
    action probe.

    For a context clip ``[B, C, T, H, W]`` (the frames before the anticipated
    action) with token grid ``(T', H', W')``, ``N = T'H'W'``:

    1. the frozen encoder gives ``tokens [B, num_cls + N, C]``;
    2. the frozen predictor sees them as the visible tokens of the extended
       grid ``(T' + G + F, H', W')`` - ``G = num_gap_frames`` then
       ``F = num_future_frames`` token frames after the context - whose
       ``(G + F) H'W'`` later positions are masked; it predicts them
       (``masked_only=True``) and the last ``F H'W'`` are kept:
       ``future [B, F H'W', D]`` in the predictor width ``D``;
    3. ``future_proj`` maps them to the encoder width ``C`` (a trainable
       ``Linear(D, C)``, part of the probe) or, with ``future_proj=None``,
       they are used as they are, which needs ``D == C`` (ViT-L and
       ModernBERT-Large are both 1024 wide);
    4. ``[tokens ; future]`` (``[B, num_cls + N + F H'W', C]``, cls tokens
       included) go to the head
       (:class:`~mmivnext.models.heads.AttentiveVerbNounActionHead`).

    The predictor's position embedding was learnt for the Stage-2 grid; the
    predictor resizes it to the extended grid on the fly (linearly in time),
    so the ``T' + G + F`` frames span the time range it was trained on.

    **Frozen parts.** The encoder and the predictor have
    ``requires_grad=False``, stay in eval mode and run under
    ``torch.no_grad()``, whatever their configs say (``frozen_stages`` is not
    needed). Only ``future_proj`` and the head train. All of them are in the
    model's state dict, so a probe checkpoint is self-contained (``test.py``
    needs nothing else).

    **Weights.** :meth:`init_weights` (called by the runner before training)
    loads the encoder through its own ``init_cfg`` (``Pretrained`` with
    ``prefix='backbone.'`` for a Stage-2 checkpoint, strict), then the
    predictor strictly from ``predictor_checkpoint``: every key under
    ``predictor_prefix`` must fit and every predictor weight must be there,
    else an error names the keys and the file.

    **Data.** ``inputs`` are ``[B, C, T, H, W]`` clips or ``[B, 1, C, T, H,
    W]`` (one view, as mmaction2's ``FormatShape`` packs them). The data
    samples carry the labels as ``gt_verb``, ``gt_noun`` and ``gt_action``
    (ints, see :class:`~mmivnext.datasets.EpicKitchensAnticipationDataset`).

    Modes: ``'loss'`` -> ``dict(loss_verb, loss_noun, loss_action)``;
    ``'predict'`` -> the data samples with ``pred_verb_score [num_verbs]``,
    ``pred_noun_score`` and ``pred_action_score`` (sigmoid scores, see the
    head); ``'tensor'`` -> the logits ``dict(verb, noun, action)``.

    Args:
        backbone (dict): ``VisionTransformer3D`` with ``out_type='raw'`` and
            one ``out_indices`` (the Stage-2 student's architecture).
        head (dict): ``AttentiveVerbNounActionHead`` with ``in_channels`` the
            encoder width.
        predictor (dict, optional): ``ModernBertPredictor`` as in Stage 2
            (``init='none'``: its weights come from ``predictor_checkpoint``),
            with the encoder's width and cls tokens. None probes the encoder
            tokens alone (an ablation). Defaults to None.
        predictor_checkpoint (str, optional): Stage-2 checkpoint holding the
            predictor's weights (a runner checkpoint with a ``state_dict``,
            or a plain state dict). Needs ``predictor``. Defaults to None
            (the predictor keeps the weights it was built with; a warning
            says so).
        predictor_prefix (str): Prefix of the predictor's keys in
            ``predictor_checkpoint``. Defaults to ``'predictor.'``.
        num_future_frames (int): ``F``, token frames predicted after the gap
            and given to the probe. Defaults to 2.
        num_gap_frames (int): ``G``, token frames between the context and the
            kept predictions (predicted, then dropped). Defaults to 0.
        future_proj (str, optional): ``'linear'`` or None (step 3).
            Defaults to ``'linear'``.
        data_preprocessor (dict, optional): Defaults to mmaction2's
            ``ActionDataPreprocessor`` with ImageNet mean / std (0-255) and
            ``format_shape='NCTHW'``, as the classification probes.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    FUTURE_PROJ = ('linear', None)

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 predictor: Optional[dict] = None,
                 predictor_checkpoint: Optional[str] = None,
                 predictor_prefix: str = 'predictor.',
                 num_future_frames: int = 2,
                 num_gap_frames: int = 0,
                 future_proj: Optional[str] = 'linear',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='mmaction.ActionDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                format_shape='NCTHW')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if future_proj not in self.FUTURE_PROJ:
            raise ValueError(f'future_proj must be one of {self.FUTURE_PROJ},'
                             f' got {future_proj!r}.')
        if num_future_frames < 1 or num_gap_frames < 0:
            raise ValueError(
                f'Need num_future_frames >= 1 and num_gap_frames >= 0, got '
                f'{num_future_frames} and {num_gap_frames}.')
        if predictor is None and predictor_checkpoint is not None:
            raise ValueError('predictor_checkpoint is given but there is no '
                             'predictor to load it into.')

        self.backbone = MODELS.build(backbone)
        if self.backbone.out_type != 'raw' or \
                len(self.backbone.out_indices) != 1:
            raise ValueError(
                "The backbone must return one layer's tokens: out_type='raw'"
                f' and one out_indices, got out_type='
                f'{self.backbone.out_type!r}, out_indices='
                f'{self.backbone.out_indices}.')
        embed_dims = self.backbone.embed_dims
        self.predictor = MODELS.build(predictor) if predictor else None
        self.future_proj = None
        if self.predictor is not None:
            if self.predictor.in_dims != embed_dims or \
                    self.predictor.num_cls_tokens != \
                    self.backbone.num_cls_tokens:
                raise ValueError(
                    f'The predictor takes {self.predictor.in_dims}-wide '
                    f'tokens with {self.predictor.num_cls_tokens} cls tokens,'
                    f' the encoder gives {embed_dims}-wide ones with '
                    f'{self.backbone.num_cls_tokens}.')
            out_dims = self.predictor.embed_dims
            if future_proj == 'linear':
                self.future_proj = nn.Linear(out_dims, embed_dims)
                nn.init.trunc_normal_(self.future_proj.weight, std=.02)
                nn.init.zeros_(self.future_proj.bias)
            elif out_dims != embed_dims:
                raise ValueError(
                    f"future_proj=None concatenates the predictor's outputs "
                    f'({out_dims} wide) with the encoder tokens ({embed_dims}'
                    " wide) as they are; use future_proj='linear' for "
                    'different widths.')
        self.head = MODELS.build(head)
        if self.head.in_channels != embed_dims:
            raise ValueError(f'head.in_channels ({self.head.in_channels}) '
                             f'must be the encoder width ({embed_dims}).')
        self.predictor_checkpoint = predictor_checkpoint
        self.predictor_prefix = predictor_prefix
        self.num_future_frames = num_future_frames
        self.num_gap_frames = num_gap_frames
        for module in self.frozen_modules():
            module.requires_grad_(False)
            module.eval()

    # ------------------------------------------------------------ freezing
    def frozen_modules(self) -> List[nn.Module]:
        """The encoder and the predictor (if any)."""
        return [m for m in (self.backbone, self.predictor) if m is not None]

    def train(self, mode: bool = True) -> 'ActionAnticipationProbe':
        """Set the training mode; the frozen parts stay in eval mode."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    # -------------------------------------------------------------- weights
    def init_weights(self) -> None:
        """Initialise the parts (the encoder loads its ``init_cfg``), then
        load the predictor from ``predictor_checkpoint``."""
        super().init_weights()
        if self.predictor is None:
            return
        if self.predictor_checkpoint is None:
            print_log(
                'ActionAnticipationProbe: no predictor_checkpoint; the '
                'predictor keeps the weights it was built with (not a '
                'Stage-2 predictor).', logger='current',
                level=logging.WARNING)
            return
        self.load_predictor(self.predictor_checkpoint, self.predictor_prefix)

    def load_predictor(self, filename: str, prefix: str) -> None:
        """Load the predictor strictly from the ``prefix`` keys of a
        checkpoint (read weights-only by
        :func:`~mmivnext.utils.checkpoint_io.load_state_dict_file`: nothing
        in it is run; every error names the file); the position embedding
        is resized to the predictor's grid by its load pre-hook."""
        if not osp.isfile(filename):
            raise FileNotFoundError(
                f'predictor_checkpoint {filename!r} does not exist.')
        checkpoint = load_state_dict_file(filename, map_location='cpu')
        state = checkpoint.get('state_dict', checkpoint)
        weights = {k[len(prefix):]: v for k, v in state.items()
                   if k.startswith(prefix)}
        if not weights:
            prefixes = sorted({k.split('.')[0] + '.' for k in state})
            raise KeyError(f'{filename} has no weights with the prefix '
                           f'{prefix!r}; its keys start with {prefixes}.')
        try:
            result = self.predictor.load_state_dict(weights, strict=False)
        except RuntimeError as err:  # shapes that do not fit
            raise ValueError(f'Cannot load the predictor from {filename} '
                             f'(prefix {prefix!r}): {err}') from err
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f'The predictor does not match {filename} (prefix '
                f'{prefix!r}): missing keys [{_key_list(result.missing_keys)}]'
                f', unexpected keys [{_key_list(result.unexpected_keys)}]. Is '
                '`predictor` the Stage-2 predictor config?')
        print_log(f'ActionAnticipationProbe: loaded the predictor from '
                  f'{filename} ({len(weights)} tensors under {prefix!r}, '
                  'strict).', logger='current')

    # -------------------------------------------------------------- forward
    def _clips(self, inputs: Tensor) -> Tensor:
        """``[B, C, T, H, W]`` clips from ``inputs`` (one view allowed)."""
        if inputs.dim() == 6:
            if inputs.shape[1] != 1:
                raise ValueError(
                    f'Expected one view per sample, got {inputs.shape[1]} '
                    f'(inputs {tuple(inputs.shape)}); multi-view testing is '
                    'not supported.')
            inputs = inputs[:, 0]
        if inputs.dim() != 5:
            raise ValueError(f'inputs must be [B, C, T, H, W] or [B, 1, C, '
                             f'T, H, W], got {tuple(inputs.shape)}.')
        return inputs

    def token_grid(self, clips: Tensor) -> Tuple[int, int, int]:
        """The encoder's ``(T', H', W')`` grid of clips ``[B, C, T, H, W]``."""
        _, _, T, H, W = clips.shape
        patch = self.backbone.patch_size
        return T // self.backbone.tubelet_size, H // patch, W // patch

    def predict_future(self, tokens: Tensor,
                       grid: Tuple[int, int, int]) -> Tensor:
        """The predictor's tokens of the ``F`` frames after the gap.

        Args:
            tokens (Tensor): Encoder output ``[B, num_cls + N, C]`` of the
                context, ``N = T'H'W'``.
            grid (tuple[int]): The context's ``(T', H', W')``.

        Returns:
            Tensor: ``[B, F H'W', D]``, frame by frame in ``(t, h, w)`` order.
        """
        T, H, W = grid
        per_frame = H * W
        num_context = T * per_frame
        num_masked = (self.num_gap_frames + self.num_future_frames) * \
            per_frame
        B, device = tokens.shape[0], tokens.device
        visible = torch.arange(num_context, device=device).expand(B, -1)
        masked = torch.arange(num_context, num_context + num_masked,
                              device=device).expand(B, -1)
        extended = (T + self.num_gap_frames + self.num_future_frames, H, W)
        future = self.predictor(tokens, visible, masked, grid_size=extended,
                                masked_only=True)  # [B, (G + F) H'W', D]
        return future[:, self.num_gap_frames * per_frame:]

    def extract_tokens(self, inputs: Tensor) -> Tensor:
        """The probe's input tokens.

        Args:
            inputs (Tensor): Normalised clips ``[B, C, T, H, W]`` (or with a
                view axis of size 1).

        Returns:
            Tensor: ``[B, num_cls + N + F H'W', C]``: the encoder's tokens,
            then the projected predicted tokens (only the encoder's without a
            predictor).
        """
        clips = self._clips(inputs)
        with torch.no_grad():
            tokens = self.backbone(clips)  # [B, num_cls + N, C]
            if self.predictor is None:
                return tokens
            future = self.predict_future(tokens, self.token_grid(clips))
        if self.future_proj is not None:
            future = self.future_proj(future)  # [B, F H'W', C]
        return torch.cat([tokens, future.to(tokens.dtype)], dim=1)

    @staticmethod
    def _labels(data_samples: Optional[list],
                device: torch.device) -> Dict[str, Tensor]:
        """``verb``, ``noun``, ``action`` LongTensors ``[B]`` of the samples."""
        if not data_samples:
            raise ValueError('The loss needs data samples with gt_verb, '
                             'gt_noun and gt_action.')
        labels = {}
        for task in TASKS:
            key = f'gt_{task}'
            missing = [i for i, s in enumerate(data_samples) if key not in s]
            if missing:
                raise KeyError(
                    f'data samples {missing[:5]} have no {key!r}; pack it '
                    "with PackActionInputs(algorithm_keys=('gt_verb', "
                    "'gt_noun', 'gt_action')).")
            labels[task] = torch.as_tensor(
                [int(s.get(key)) for s in data_samples], dtype=torch.long,
                device=device)
        return labels

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """The focal losses of the three tasks (summed by MMEngine)."""
        tokens = self.extract_tokens(inputs)
        return self.head.loss(tokens, self._labels(data_samples,
                                                   tokens.device))

    def predict(self, inputs: Tensor, data_samples: Optional[list] = None
                ) -> list:
        """Scores of every class of each task, in the data samples."""
        scores = self.head.scores(self.head(self.extract_tokens(inputs)))
        if data_samples is None:
            from mmaction.structures import ActionDataSample
            data_samples = [ActionDataSample()
                            for _ in range(inputs.shape[0])]
        for i, sample in enumerate(data_samples):
            for task in TASKS:
                sample.set_field(scores[task][i], f'pred_{task}_score')
        return data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Dispatch on ``mode``: ``'loss'``, ``'predict'`` or ``'tensor'``
        (logits ``dict(verb, noun, action)``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(self.extract_tokens(inputs))
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}.')
