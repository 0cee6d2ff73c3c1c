"""InternVideo-Next Stage 1: semantic-guided pixel reconstruction."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmivnext.registry import MODELS
from ..maskers import MaskIndices, SemanticMasker
from ..utils import patchify_3d, unpatchify_3d
from .base import BaseVideoSelfSupervisor, gather_tokens


@MODELS.register_module()
class InternVideoNextStage1(BaseVideoSelfSupervisor):
    """Stage 1 of InternVideo-Next (paper section 3.2, Fig. 2, Table 1).

    teacher → masker → encoder (visible tokens) → predictor → pixel head, plus
    alignment of the encoder with the teacher:

    * a frozen SigLIP image teacher embeds every frame; the attention of its
      MAP head picks the visible tokens (``SemanticMasker``, ratio 0.8);
    * the student encoder runs on the visible tokens only;
    * the predictor (last layers of ModernBERT) fills the masked positions
      and the diffusion head (``DiffMLPHead``) reconstructs each masked
      patch's pixels from the predictor's vector, one patch at a time;
    * the student's last layers (visible tokens) are aligned token by token
      with the teacher's chosen layers (``TokenAlignmentHead``), and its
      attention-pooled vector (the encoder's ``projector``, mapped to the
      teacher's width by ``global_align_head``) with the mean over frames of
      the teacher's L2-normalised pooled outputs; both with ``2 - 2 cos``
      (the frame mean is not re-normalised, as the authors).

    Every part but the backbone is optional, so that one class covers the
    Table 1 variants: the pixel-reconstruction baseline (no teacher, a
    ``RandomMasker``, a linear pixel head), SigLIP alignment only (no
    predictor or pixel head), pixel + alignment with a linear or MLP head,
    with the diffusion decoder, and the predictor ablations.

    Args:
        backbone (dict): Student ``VisionTransformer3D`` config. It must
            output ``'raw'`` tokens; its ``out_indices`` must end with the last
            layer and give at least as many layers as the alignment head
            aligns; it needs a ``projector_cfg`` if ``global_align_head`` is
            set.
        masker (dict): ``SemanticMasker`` (needs the teacher) or
            ``RandomMasker``.
        teacher (dict, optional): Frozen ``SigLIPTeacher``; needed by the
            semantic masker and the alignment losses. Defaults to None.
        predictor (dict, optional): ``ModernBertPredictor`` or
            ``VisionTransformerPredictor``; needed by ``pixel_head``.
        pixel_head (dict, optional): ``DiffMLPHead`` or a linear / MLP pixel
            head reconstructing the masked patches. Defaults to None.
        align_head (dict, optional): ``TokenAlignmentHead`` aligning the
            student's last layers with the teacher's layers. Defaults to None.
        global_align_head (dict, optional): Head from the encoder's projector
            output to the teacher's width whose ``loss`` compares it with the
            teacher's pooled output averaged over frames, e.g. a
            ``LatentPredictionHead`` with
            ``CosineSimilarityLoss(normalize_target=False)`` (the authors'
            ``final_clip_decoder``). Defaults to None (no global alignment).
        norm_pixel_targets (bool): Normalise each target patch by its own
            mean and std (MAE's ``norm_pix_loss``). Defaults to False: the
            targets are the patch's pixels as the data preprocessor
            normalised them.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='VideoPretrainDataPreprocessor')``.
        sdpa_backends (Sequence[str], optional): SDPA kernels the forward
            may use; see :class:`BaseVideoSelfSupervisor`.
        compile_encoder (bool | dict): ``torch.compile`` the student encoder;
            see :class:`BaseVideoSelfSupervisor`.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 masker: dict,
                 teacher: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 pixel_head: Optional[dict] = None,
                 align_head: Optional[dict] = None,
                 global_align_head: Optional[dict] = None,
                 norm_pixel_targets: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 sdpa_backends: Optional[Sequence[str]] = None,
                 compile_encoder: Union[bool, dict] = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(
            backbone=backbone,
            data_preprocessor=data_preprocessor,
            sdpa_backends=sdpa_backends,
            compile_encoder=compile_encoder,
            init_cfg=init_cfg)
        self.masker = MODELS.build(masker)
        self.teacher = MODELS.build(teacher) if teacher else None
        self.predictor = MODELS.build(predictor) if predictor else None
        self.pixel_head = MODELS.build(pixel_head) if pixel_head else None
        self.align_head = MODELS.build(align_head) if align_head else None
        self.global_align_head = MODELS.build(
            global_align_head) if global_align_head else None
        self.norm_pixel_targets = norm_pixel_targets
        self._check_parts()

    def _check_parts(self) -> None:
        """Refuse combinations that cannot train, naming the missing part."""
        if (self.pixel_head is None) != (self.predictor is None):
            raise ValueError('predictor and pixel_head go together: the pixel '
                             'head decodes the predictor\'s vectors.')
        if self.pixel_head is None and self.align_head is None and \
                self.global_align_head is None:
            raise ValueError('Nothing to train: set pixel_head, align_head or '
                             'global_align_head.')
        needs_teacher = isinstance(self.masker, SemanticMasker) or \
            self.align_head is not None or self.global_align_head is not None
        if needs_teacher and self.teacher is None:
            raise ValueError('The semantic masker and the alignment losses '
                             'need a teacher.')
        if self.backbone.out_type != 'raw':
            raise ValueError("The backbone must have out_type='raw', got "
                             f'{self.backbone.out_type!r}.')
        if self.global_align_head is not None and \
                self.backbone.projector is None:
            raise ValueError('global_align_head needs the backbone\'s '
                             'projector (projector_cfg).')
        num_outputs = len(self.backbone.out_indices)
        if self.align_head is not None and \
                self.align_head.num_layers > num_outputs:
            raise ValueError(
                f'align_head aligns {self.align_head.num_layers} layers but '
                f'the backbone outputs {num_outputs} (out_indices).')

    def loss(self, inputs: Tensor,
             data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """Stage-1 losses of a batch of clips.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            data_samples (list, optional): Unused (no labels).

        Returns:
            dict[str, Tensor]: ``loss_diffusion`` (or ``loss_pixel``),
            ``loss_align`` and ``loss_align_global``, as configured; with a
            ``MultiBlockMasker`` of several configs (Table 4), the student
            runs once per config and the names end with ``_<config index>``.
        """
        teacher = self.teacher(inputs) if self.teacher is not None else None
        masks = self.generate_masks(
            inputs, teacher.attention if teacher is not None else None)
        losses = dict()
        for i, mask in enumerate(masks):
            suffix = f'_{i}' if len(masks) > 1 else ''
            for name, value in self.mask_losses(inputs, teacher,
                                                mask).items():
                losses[name + suffix] = value
        return losses

    def mask_losses(self, inputs: Tensor, teacher,
                    mask: MaskIndices) -> Dict[str, Tensor]:
        """The losses of one mask: encoder on the visible tokens, predictor
        and pixel head on the masked ones, alignment with the teacher."""
        feats = self.encode_visible(inputs, mask.visible)  # L x [B, c+K, C]
        losses = dict()
        if self.pixel_head is not None:
            z = self.predictor(feats[-1], mask.visible, mask.masked,
                               grid_size=self.token_grid(inputs),
                               masked_only=True)  # [B, M, D]
            target = self.pixel_targets(inputs, mask.masked)  # [B, M, P]
            losses.update(
                self.pixel_head.loss(z.flatten(0, 1), target.flatten(0, 1)))
        if self.align_head is not None:
            n = self.align_head.num_layers
            student = [x[:, self.backbone.num_cls_tokens:] for x in feats[-n:]]
            target = [gather_tokens(h.flatten(1, 2), mask.visible)
                      for h in teacher.hidden_states[-n:]]  # n x [B, K, C_t]
            losses['loss_align'] = self.align_head.loss(
                student, target, mask.visible, self.token_grid(inputs))
        if self.global_align_head is not None:
            pooled = self.backbone.projector(feats[-1])[:, 0]  # [B, C_p]
            # Frames weigh equally: normalise, then average (as the authors).
            target = F.normalize(teacher.pooled, dim=-1).mean(dim=1)
            losses['loss_align_global'] = self.global_align_head.loss(
                pooled, target)  # target [B, C_t]
        return losses

    def encode_visible(self, inputs: Tensor,
                       visible: Tensor) -> List[Tensor]:
        """The backbone's requested layers on the visible tokens only.

        Returns:
            list[Tensor]: One ``[B, num_cls + K, C]`` tensor per output index.
        """
        feats = self.backbone(inputs, visible_indices=visible)
        return list(feats) if isinstance(feats, (tuple, list)) else [feats]

    @torch.no_grad()
    def reconstruct(self,
                    inputs: Tensor,
                    num_steps: Optional[int] = None,
                    temperature: Optional[float] = None,
                    generator: Optional[torch.Generator] = None) -> dict:
        """Reconstruct the masked patches of clips with the pixel head.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            num_steps (int, optional): Reverse diffusion steps (diffusion
                head only). Defaults to the head's ``num_sampling_steps``.
            temperature (float, optional): Sampling temperature (diffusion
                head only). Defaults to the head's.
            generator (torch.Generator, optional): For the masker's and the
                sampler's draws.

        Returns:
            dict: ``reconstruction [B, C, T, H, W]`` (visible patches copied
            from the input, masked ones generated; normalised like the
            input; patch-normalised targets are mapped back with each
            patch's own statistics), ``mask [B, T', H', W']`` (bool, True =
            masked) and ``mask_indices`` (:class:`MaskIndices`).
        """
        if self.pixel_head is None:
            raise RuntimeError('This Stage-1 model has no pixel head to '
                               'reconstruct with.')
        teacher = self.teacher(inputs) if self.teacher is not None else None
        mask = self.generate_masks(
            inputs, teacher.attention if teacher is not None else None)[0]
        feats = self.encode_visible(inputs, mask.visible)
        z = self.predictor(feats[-1], mask.visible, mask.masked,
                           grid_size=self.token_grid(inputs),
                           masked_only=True)  # [B, M, D]
        B, M, D = z.shape
        if hasattr(self.pixel_head, 'sample'):
            pixels = self.pixel_head.sample(
                z.reshape(B * M, D), num_steps=num_steps,
                temperature=temperature, generator=generator)
        else:
            pixels = self.pixel_head.predict(z.reshape(B * M, D))
        pixels = pixels.reshape(B, M, -1).to(inputs.dtype)  # [B, M, P]

        grid = self.token_grid(inputs)
        patch, tubelet = self.backbone.patch_size, self.backbone.tubelet_size
        patches = patchify_3d(
            inputs, patch, tubelet, channel_major=True)  # [B, N, P]
        if self.norm_pixel_targets:
            target = gather_tokens(patches, mask.masked)
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
            pixels = pixels * std + mean
        patches = patches.scatter(
            1, mask.masked.unsqueeze(-1).expand(-1, -1, patches.shape[-1]),
            pixels)
        is_masked = torch.zeros(
            B, patches.shape[1], dtype=torch.bool, device=inputs.device)
        is_masked.scatter_(1, mask.masked, True)
        return dict(
            reconstruction=unpatchify_3d(
                patches, grid, patch, tubelet, channel_major=True),
            mask=is_masked.reshape(B, *grid),
            mask_indices=mask)

    def predict(self, inputs: Tensor,
                data_samples: Optional[list] = None) -> list:
        """Reconstructions of a batch, one data sample per clip.

        Each returned sample has ``reconstruction [C, T, H, W]`` and ``mask
        [T', H', W']`` fields (see :meth:`reconstruct`).
        """
        out = self.reconstruct(inputs)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(inputs))]
        for sample, recon, mask in zip(data_samples, out['reconstruction'],
                                       out['mask']):
            sample.set_field(recon, 'reconstruction')
            sample.set_field(mask, 'mask')
        return data_samples
