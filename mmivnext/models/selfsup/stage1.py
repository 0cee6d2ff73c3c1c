"""InternVideo-Next Stage 1: semantic-guided pixel reconstruction."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmivnext.registry import MODELS
from ..maskers import MaskIndices
from ..utils import patchify_3d, unpatchify_3d
from .base import (BaseVideoSelfSupervisor, gather_tokens, normalize_patches,
                   with_sizes)


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
      patch's pixels from the predictor's vector, one patch at a time
      (``loss_pixel``);
    * the student's last layers (visible tokens) are aligned token by token
      with the teacher's chosen layers (``TokenAlignmentHead``,
      ``loss_align``), and its attention-pooled vector (the encoder's
      ``projector``, mapped to the teacher's width by ``global_align_head``)
      with the mean over frames of the teacher's L2-normalised pooled outputs
      (``loss_align_global``); both with ``2 - 2 cos`` (the frame mean is not
      re-normalised, as the authors).

    Every part but the backbone is optional, so that one class covers the
    Table 1 variants: the pixel-reconstruction baseline (no teacher, a
    ``RandomMasker``, a linear pixel head), SigLIP alignment only (no
    predictor or pixel head), pixel + alignment with a linear or MLP head,
    with the diffusion decoder, and the predictor ablations.

    Args:
        backbone (dict): Student ``VisionTransformer3D``, ``out_type='raw'``;
            its ``out_indices`` end with the last layer and give at least the
            layers ``align_head`` aligns; a ``projector_cfg`` for
            ``global_align_head``.
        masker (dict): ``SemanticMasker`` or ``RandomMasker``.
        teacher (dict, optional): ``SigLIPTeacher``; needed by the semantic
            masker and the alignment losses. Defaults to None.
        predictor (dict, optional): ``ModernBertPredictor`` or
            ``VisionTransformerPredictor``; goes with ``pixel_head``.
            Defaults to None.
        pixel_head (dict, optional): ``DiffMLPHead``, ``LinearPixelHead`` or
            ``MLPPixelHead`` (``loss_pixel``). Defaults to None.
        align_head (dict, optional): ``TokenAlignmentHead``
            (``loss_align``). Defaults to None.
        global_align_head (dict, optional): e.g. a ``LatentPredictionHead``
            with ``CosineSimilarityLoss(normalize_target=False)`` (the
            authors' ``final_clip_decoder``; ``loss_align_global``). Defaults
            to None.
        **base_args: ``norm_pixel_targets``, ``data_preprocessor``,
            ``sdpa_backends``, ``compile_encoder``, ``init_cfg`` of
            :class:`BaseVideoSelfSupervisor`; any other name raises.
    """

    def __init__(self,
                 backbone: dict,
                 masker: dict,
                 teacher: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 pixel_head: Optional[dict] = None,
                 align_head: Optional[dict] = None,
                 global_align_head: Optional[dict] = None,
                 **base_args) -> None:
        super().__init__(backbone, masker, teacher, predictor, pixel_head,
                         **base_args)
        if (align_head or global_align_head) and self.teacher is None:
            raise ValueError('The alignment losses need a teacher.')
        self.align_head = MODELS.build(with_sizes(
            align_head, 'align_head', in_dims=self.backbone.embed_dims,
            out_dims=self.teacher.embed_dims,
            grid_size=self.backbone.grid_size)) if align_head else None
        self.global_align_head = None
        if global_align_head:
            if self.backbone.projector is None:
                raise ValueError('global_align_head needs the backbone\'s '
                                 'projector (projector_cfg).')
            self.global_align_head = MODELS.build(with_sizes(
                global_align_head, 'global_align_head',
                in_dims=self.backbone.projector.out_dims,
                out_dims=self.teacher.embed_dims))
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
        needs_teacher = self.masker.needs_attention or \
            self.align_head is not None or self.global_align_head is not None
        if needs_teacher and self.teacher is None:
            raise ValueError('The semantic masker and the alignment losses '
                             'need a teacher.')
        num_outputs = len(self.backbone.out_indices)
        if self.align_head is not None and \
                self.align_head.num_layers > num_outputs:
            raise ValueError(
                f'align_head aligns {self.align_head.num_layers} layers but '
                f'the backbone outputs {num_outputs} (out_indices).')

    def teacher_forward(self, inputs: Tensor) -> Tuple[Optional[object],
                                                        Optional[Tensor]]:
        """The teacher's output on every frame (None without a teacher)."""
        if self.teacher is None:
            return None, None
        out = self.teacher(
            inputs, return_pooled=self.global_align_head is not None,
            return_attention=self.masker.needs_attention)
        return out, out.attention

    def mask_losses(self, inputs: Tensor, teacher: Optional[object],
                    mask: MaskIndices) -> Dict[str, Tensor]:
        """The losses of one mask (class docstring)."""
        feats = self.encode_visible(inputs, mask.visible)  # L x [B, c+K, C]
        losses = dict()
        if self.pixel_head is not None:
            z = self.predict_masked(feats[-1], mask, inputs)  # [B, M, D]
            losses['loss_pixel'] = self.pixel_loss(z, inputs, mask.masked)
        if self.align_head is not None:
            n = self.align_head.num_layers
            student = [x[:, self.backbone.num_cls_tokens:] for x in feats[-n:]]
            target = [gather_tokens(h.flatten(1, 2), mask.visible)
                      for h in teacher.hidden_states[-n:]]  # n x [B, K, C_t]
            losses['loss_align'] = self.align_head.loss(
                student, target, mask.visible, self.token_grid(inputs))
        if self.global_align_head is not None:
            pooled = self.backbone.projector(feats[-1])[:, 0]  # [B, C_p]
            # Frames weigh equally: normalise, then average.
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
        _, attention = self.teacher_forward(inputs)
        mask = self.generate_masks(inputs, attention, generator)[0]
        feats = self.encode_visible(inputs, mask.visible)
        z = self.predict_masked(feats[-1], mask, inputs)  # [B, M, D]
        B, M, D = z.shape
        pixels = self.pixel_head.predict(
            z.reshape(B * M, D), num_steps=num_steps, temperature=temperature,
            generator=generator)
        pixels = pixels.reshape(B, M, -1).to(inputs.dtype)  # [B, M, P]

        grid = self.token_grid(inputs)
        patch, tubelet = self.backbone.patch_size, self.backbone.tubelet_size
        patches = patchify_3d(
            inputs, patch, tubelet, channel_major=True)  # [B, N, P]
        if self.norm_pixel_targets:
            _, mean, std = normalize_patches(
                gather_tokens(patches, mask.masked))
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
