"""LiT: a locked video encoder and a text encoder trained to match it."""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from .registry import MODELS


@MODELS.register_module()
class LiTVideoTextModel(BaseModel):
    """Locked-image text tuning (LiT) with a frozen video encoder.

    ``backbone`` (any model-zoo encoder) maps a clip to one embedding
    ``[B, video_embed_dims]``: with ``out_type='projected'`` the encoder's
    attention-pooled projector (the released encoder's ``clip_projector``),
    with ``out_type='avg_featmap'`` the mean of its patch tokens (encoders
    without a projector). It is frozen: ``requires_grad=False`` on all its
    parameters (so ``mmivnext.LayerDecayOptimWrapperConstructor`` leaves it
    out of the optimizer), eval mode whatever ``train()`` says, no graph. Its
    weights come from its ``init_cfg`` (or ``pretrained``) and stay in the
    checkpoints, so ``tools/test.py`` loads them strictly.

    The text side is trained: ``text_encoder`` (e.g. MobileCLIP-B's text
    tower) and ``text_proj``, a linear map from its width to
    ``video_embed_dims`` (the paper does not say how its 512-d text
    embeddings meet the 768-d video ones; mapping on the text side leaves the
    video embedding exactly the encoder's). Both embeddings are
    L2-normalised; the loss is CLIP's symmetric cross-entropy over the
    ``B x B`` similarities of the batch (per rank), scaled by a learnable
    temperature ``exp(logit_scale)`` clamped at ``max_logit_scale``.

    Prediction writes per video ``video_embedding`` ``[D]``, and

    * with ``captions`` in the sample (retrieval test sets):
      ``text_embeddings`` ``[n_captions, D]``, for
      ``mmivnext.VideoTextRetrievalMetric``;
    * with ``class_prompts`` (zero-shot classification):
      ``pred_zeroshot_score`` ``[num_classes]`` (cosine similarities to the
      class embeddings) and ``gt_zeroshot`` (the label), for
      ``mmivnext.ClassMeanRecallAtK(tasks=('zeroshot', ))``.

    Args:
        backbone (dict): The video encoder config, giving ``[B, D]``.
        text_encoder (dict): The text encoder config; it maps a list of
            strings to ``[B, embed_dims]`` and has ``embed_dims``.
        video_embed_dims (int): ``D``, the width of the video embedding.
        class_prompts (str, optional): Text file, line ``i`` the name or
            description of class ``i``. Defaults to None.
        prompt_templates (Sequence[str]): Templates with one ``{}`` filled
            with each class line; a class embedding is the normalised mean
            of its normalised template embeddings. Defaults to ``('{}', )``.
        init_logit_scale (float): Initial temperature (CLIP's 1 / 0.07).
            Defaults to ``1 / 0.07``.
        max_logit_scale (float): Largest temperature. Defaults to 100.
        data_preprocessor (dict, optional): E.g.
            ``mmaction.ActionDataPreprocessor``. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 video_embed_dims: int,
                 class_prompts: Optional[str] = None,
                 prompt_templates: Sequence[str] = ('{}', ),
                 init_logit_scale: float = 1 / 0.07,
                 max_logit_scale: float = 100.,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = MODELS.build(backbone)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.text_encoder = MODELS.build(text_encoder)
        self.video_embed_dims = video_embed_dims
        self.text_proj = nn.Linear(self.text_encoder.embed_dims,
                                   video_embed_dims)
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(init_logit_scale)))
        self.max_logit_scale = max_logit_scale
        if isinstance(prompt_templates, str) or not prompt_templates or any(
                t.count('{}') != 1 for t in prompt_templates):
            raise ValueError(f'prompt_templates must be a list of strings '
                             f'with one "{{}}" each, got {prompt_templates!r}')
        self.prompt_templates = tuple(prompt_templates)
        self.class_names = self._read_class_prompts(class_prompts) \
            if class_prompts else None
        self._class_embeddings = None  # [num_classes, D], in eval mode
        # New weights (tools/test.py loads a checkpoint) drop the cache.
        self.register_load_state_dict_post_hook(
            lambda module, keys: setattr(module, '_class_embeddings', None))

    @staticmethod
    def _read_class_prompts(path: str) -> List[str]:
        with open(path) as f:
            names = [line.strip() for line in f]
        while names and not names[-1]:
            names.pop()
        empty = [i for i, name in enumerate(names) if not name]
        if not names or empty:
            raise ValueError(f'{path}: class prompt file needs one non-empty '
                             f'line per class; empty lines (0-based) {empty}')
        return names

    def train(self, mode: bool = True) -> 'LiTVideoTextModel':
        """Set the mode; the backbone stays in eval mode, and the cached
        class embeddings are dropped (the text side changes in training)."""
        super().train(mode)
        self.backbone.eval()
        self._class_embeddings = None
        return self

    # ------------------------------------------------------------ embeddings
    def extract_video_feat(self, inputs: Tensor) -> Tensor:
        """Normalised video embeddings ``[B, D]`` of clips
        ``[B, V, C, T, H, W]`` (the mean of the ``V`` views' embeddings)."""
        B, V = inputs.shape[:2]
        with torch.no_grad():
            feats = self.backbone(inputs.flatten(0, 1))  # [B * V, D]
        if feats.dim() != 2 or feats.shape[1] != self.video_embed_dims:
            raise ValueError(
                f'The backbone gives {tuple(feats.shape)}; LiT needs '
                f'[B, video_embed_dims={self.video_embed_dims}]: set its '
                "out_type='projected' (projector) or 'avg_featmap' (mean "
                'of the tokens) and video_embed_dims to that width.')
        feats = F.normalize(feats.float(), dim=-1).view(B, V, -1).mean(1)
        return F.normalize(feats, dim=-1)

    def extract_text_feat(self, texts: List[str]) -> Tensor:
        """Normalised text embeddings ``[N, D]``."""
        return F.normalize(self.text_proj(self.text_encoder(texts)), dim=-1)

    def class_embeddings(self) -> Tensor:
        """``[num_classes, D]`` (class docstring), cached in eval mode until
        ``train()`` or new weights are loaded."""
        if self._class_embeddings is not None and not self.training:
            return self._class_embeddings
        per_template = torch.stack([
            self.extract_text_feat([t.format(name) for name in
                                    self.class_names])
            for t in self.prompt_templates])  # [num_templates, K, D]
        embeddings = F.normalize(per_template.mean(0), dim=-1)
        if not self.training:
            self._class_embeddings = embeddings
        return embeddings

    # ---------------------------------------------------------------- modes
    def forward(self, inputs: Tensor, data_samples=None,
                mode: str = 'tensor'):
        """``'loss'``, ``'predict'`` or ``'tensor'`` (the video
        embeddings)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_video_feat(inputs)
        raise ValueError(f'mode must be loss, predict or tensor, got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Symmetric contrastive loss of the batch's (video, caption)
        pairs; ``data_samples[i].caption`` is the caption of clip ``i``."""
        video = self.extract_video_feat(inputs)  # [B, D]
        text = self.extract_text_feat(
            [s.metainfo['caption'] for s in data_samples])  # [B, D]
        scale = self.logit_scale.exp().clamp(max=self.max_logit_scale)
        logits = scale * text @ video.t()  # [B texts, B videos]
        target = torch.arange(len(logits), device=logits.device)
        return dict(loss_t2v=F.cross_entropy(logits, target) / 2,
                    loss_v2t=F.cross_entropy(logits.t(), target) / 2)

    def predict(self, inputs: Tensor, data_samples: list) -> List[dict]:
        """Embeddings and zero-shot scores (class docstring)."""
        video = self.extract_video_feat(inputs)  # [B, D]
        outputs = [dict(video_embedding=v.cpu()) for v in video]
        if any('captions' in s.metainfo for s in data_samples):
            captions = [s.metainfo['captions'] for s in data_samples]
            text = self.extract_text_feat(
                [c for caps in captions for c in caps]).cpu()
            for out, part in zip(outputs,
                                 text.split([len(c) for c in captions])):
                out['text_embeddings'] = part  # [n_captions, D]
        if self.class_names is not None:
            scores = video @ self.class_embeddings().t()  # [B, K]
            for out, score, sample in zip(outputs, scores.cpu(),
                                          data_samples):
                out['pred_zeroshot_score'] = score
                out['gt_zeroshot'] = int(sample.gt_label.item())
        return outputs
