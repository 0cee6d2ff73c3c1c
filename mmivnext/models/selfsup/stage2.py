"""InternVideo-Next Stage 2: latent prediction against a frozen Stage-1
teacher."""
from typing import Dict, Mapping, Optional, Tuple

from mmengine.logging import print_log
from torch import Tensor

from mmivnext.registry import MODELS
from mmivnext.utils.checkpoint_io import load_checkpoint_file
from ..maskers import MaskIndices
from .base import BaseVideoSelfSupervisor, gather_tokens, with_sizes


@MODELS.register_module()
class InternVideoNextStage2(BaseVideoSelfSupervisor):
    """Stage 2 of InternVideo-Next (paper section 3.3, Tables 3-4).

    masker → student encoder (visible tokens) → predictor → head, compared with
    the frozen teacher's latents of the masked tokens:

    * student encoder and predictor start from a Stage-1 checkpoint
      (``init_checkpoint``);
    * the teacher (``FrozenVideoTeacher``, also the Stage-1 encoder) embeds
      the whole clip once per step; its final-layer tokens are the targets;
    * multi-block masks (``MultiBlockMasker``);
    * the predictor's outputs at the masked positions go through ``head``
      (``loss_latent``).

    Options for the Table 3 variants: a zero-initialised ViT predictor
    (``load_predictor=False`` with a ``VisionTransformerPredictor``), an EMA
    target (``TeacherEMAHook``), a frozen SigLIP2 or InternVideo2 target (any
    teacher: a ``SigLIPTeacher``'s last chosen layer is used), an
    unmasked-token alignment loss (``visible_align_head``) and an added pixel
    loss (``pixel_head``, as in Stage 1).

    Args:
        backbone (dict): Student ``VisionTransformer3D``; ``out_type='raw'``,
            last layer only.
        masker (dict): ``MultiBlockMasker`` (or a ``SemanticMasker`` with
            ``mask_teacher``).
        teacher (dict): ``FrozenVideoTeacher`` (or any teacher: its
            ``targets`` are compared).
        predictor (dict): ``ModernBertPredictor`` or
            ``VisionTransformerPredictor``.
        head (dict): ``LatentPredictionHead``.
        init_checkpoint (str, optional): Stage-1 checkpoint (a runner
            checkpoint or the output of
            ``tools/model_converters/stage1_to_stage2.py``) loaded by
            :meth:`load_stage1` in :meth:`init_weights`. Defaults to None (no
            loading, e.g. when resuming or in tests).
        load_predictor (bool): Also load the predictor from
            ``init_checkpoint``. Defaults to True.
        visible_align_head (dict, optional): ``LatentPredictionHead``
            aligning the student's visible tokens with the teacher's (Table 3
            "Unmasked Token Alignment"). Defaults to None.
        pixel_head (dict, optional): A Stage-1 pixel head decoding the masked
            patches from the predictor (Table 3 "Pixel Reconstruction Loss",
            ``loss_pixel``). Defaults to None.
        mask_teacher (dict, optional): A ``SigLIPTeacher`` whose attention
            drives a ``SemanticMasker`` (Table 4 "Stage-2 Semantic" masks).
            Defaults to None.
        **base_args: ``norm_pixel_targets``, ``data_preprocessor``,
            ``sdpa_backends``, ``compile_encoder``, ``init_cfg`` of
            :class:`BaseVideoSelfSupervisor`; any other name raises.
    """

    def __init__(self,
                 backbone: dict,
                 masker: dict,
                 teacher: dict,
                 predictor: dict,
                 head: dict,
                 init_checkpoint: Optional[str] = None,
                 load_predictor: bool = True,
                 visible_align_head: Optional[dict] = None,
                 pixel_head: Optional[dict] = None,
                 mask_teacher: Optional[dict] = None,
                 **base_args) -> None:
        super().__init__(backbone, masker, teacher, predictor, pixel_head,
                         **base_args)
        self.head = MODELS.build(with_sizes(
            head, 'head', in_dims=self.predictor.embed_dims,
            out_dims=self.teacher.embed_dims))
        self.visible_align_head = MODELS.build(with_sizes(
            visible_align_head, 'visible_align_head',
            in_dims=self.backbone.embed_dims,
            out_dims=self.teacher.embed_dims)) if visible_align_head else None
        self.mask_teacher = MODELS.build(
            mask_teacher) if mask_teacher else None
        if self.masker.needs_attention and self.mask_teacher is None:
            raise ValueError(f'{type(self.masker).__name__} chooses from an '
                             'image teacher\'s attention: set mask_teacher.')
        self.init_checkpoint = init_checkpoint
        self.load_predictor = load_predictor
        if self.backbone.projector is not None:
            # The Stage-1 global-alignment projector has no Stage-2 loss: it
            # is kept (it ships with the encoder) but not trained, which also
            # keeps DDP from waiting for its gradients.
            self.backbone.projector.requires_grad_(False)
        if len(self.backbone.out_indices) != 1:
            raise ValueError('The Stage-2 backbone must output the last layer '
                             'only.')

    def init_weights(self) -> None:
        """Initialise, then load the student from ``init_checkpoint``."""
        super().init_weights()
        if self.init_checkpoint is not None:
            self.load_stage1(self.init_checkpoint)

    def load_stage1(self, filename: str) -> None:
        """Load ``backbone.*`` (and ``predictor.*``) strictly from a Stage-1
        checkpoint; position embeddings are resized to this model's grid.

        The file is read by :func:`~mmivnext.utils.checkpoint_io.
        load_checkpoint_file` (weights only: nothing in it is run). Every
        error names ``filename``.

        Raises:
            FileNotFoundError: No such file.
            CheckpointLoadError: The file cannot be read safely.
            TypeError: It holds no checkpoint dict.
            KeyError: It has no weights of a part.
            RuntimeError: Its weights do not fit a part (missing or
                unexpected keys, shapes).
        """
        checkpoint = load_checkpoint_file(filename)
        state = checkpoint.get('state_dict', checkpoint) \
            if isinstance(checkpoint, Mapping) else checkpoint
        if not isinstance(state, Mapping):
            raise TypeError(f'{filename} holds a {type(state).__name__}, '
                            'not a checkpoint dict')
        parts = ['backbone'] + (['predictor'] if self.load_predictor else [])
        for part in parts:
            prefix = f'{part}.'
            sub = {k[len(prefix):]: v for k, v in state.items()
                   if k.startswith(prefix)}
            if not sub:
                raise KeyError(f'{filename} has no {prefix}* weights to '
                               f'initialise the Stage-2 {part}.')
            try:  # strict: missing or unexpected keys raise, naming them
                getattr(self, part).load_state_dict(sub, strict=True)
            except RuntimeError as err:
                raise RuntimeError(
                    f'{filename}: its {prefix}* weights do not fit the '
                    f'Stage-2 {part}: {err}') from err
            print_log(f'Loaded the Stage-2 {part} from {filename} '
                      f'({len(sub)} tensors).', logger='current')

    def teacher_forward(self, inputs: Tensor) -> Tuple[Tensor,
                                                        Optional[Tensor]]:
        """The teacher's latents of every token ``[B, N, C_t]`` and, for
        semantic masks, the mask teacher's attention ``[B, T, N_f]``."""
        attention = None
        if self.mask_teacher is not None:
            attention = self.mask_teacher(
                inputs, return_pooled=False).attention
        return self.teacher.targets(inputs), attention

    def mask_losses(self, inputs: Tensor, target: Tensor,
                    mask: MaskIndices) -> Dict[str, Tensor]:
        """The losses of one mask: the predicted latents of the masked tokens
        (``loss_latent``), and, as configured, the visible tokens' alignment
        (``loss_visible_align``) and the masked pixels (``loss_pixel``)."""
        tokens = self.backbone(inputs, visible_indices=mask.visible)
        z = self.predict_masked(tokens, mask, inputs)  # [B, M, D]
        losses = dict(
            loss_latent=self.head.loss(z, gather_tokens(target, mask.masked)))
        if self.visible_align_head is not None:
            losses['loss_visible_align'] = self.visible_align_head.loss(
                tokens[:, self.backbone.num_cls_tokens:],
                gather_tokens(target, mask.visible))
        if self.pixel_head is not None:
            losses['loss_pixel'] = self.pixel_loss(z, inputs, mask.masked)
        return losses

    def predict(self, inputs: Tensor, data_samples: Optional[list] = None):
        raise NotImplementedError(
            'InternVideoNextStage2 has no predict mode; probe its encoder '
            '(tools/model_converters/export_encoder.py) instead.')
