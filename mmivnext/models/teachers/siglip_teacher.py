"""The frozen SigLIP / SigLIP 2 image teacher of Stage 1.

Stage 1 aligns the student with a frozen image model run frame by frame on the
full clip (the paper's semantic alignment loss) and draws its semantic mask from
that model's attention (see :class:`~mmivnext.models.maskers.SemanticMasker`).
:class:`SigLIPTeacher` provides both from one forward pass.

Checkpoints
-----------
``pretrained`` is a Hugging Face hub id or a local folder written by
``save_pretrained``. The model class follows the config's ``model_type``:

* ``siglip`` / ``siglip_vision_model``: :class:`transformers.SiglipVisionModel`.
  SigLIP and the *fixed-resolution* SigLIP 2 checkpoints
  (``google/siglip2-so400m-patch16-256``, ``google/siglip2-giant-opt-patch16-256``
  ...) are of this type. A full checkpoint (vision + text towers) loads its
  vision tower; transformers logs the text tower's weights as unexpected.
* ``siglip2`` / ``siglip2_vision_model``: :class:`transformers.Siglip2VisionModel`,
  the NaFlex SigLIP 2 checkpoints (``google/siglip2-so400m-patch16-naflex``).
  Frames are resized to a square ``image_size`` and patchified here, the way
  ``Siglip2ImageProcessor`` lays out patches, with every patch valid.

A checkpoint that lacks weights of the model (which transformers would
initialise at random) is refused. Loading, preprocessing and the NaFlex
patchify are the functions of :mod:`mmivnext.models.utils.hf_image`, shared
with :class:`~mmivnext.models.backbones.PerFrameImageEncoder`.

Authors' code
-------------
The released teacher (``InternVideo-Next/models/siglip_teacher.py`` and
``engines/engine_for_stage1.py`` in GitHub ``OpenGVLab/InternVideo``) returns
the hidden states entering given layers, L2-normalised, the L2-normalised MAP-head
output and the MAP head's head-averaged attention; the normalised 224 px clip
is resized to the teacher's 256 px with a plain ``F.interpolate(mode='bicubic',
align_corners=False)``, without antialiasing (``engine_for_stage1.py:72-78``),
and re-normalised to SigLIP's statistics. That is not the same as an
antialiased (PIL-like) resize even when upsampling: PyTorch's antialiased
bicubic uses the kernel ``a = -0.5``, the plain one ``a = -0.75``.
``antialias=False`` (the default) resizes as they do; resizing the 0-255
frames rather than the normalised clip is the same up to rounding, since
both filters' weights sum to 1.
The input of layer ``k`` is ``hidden_states[k]`` of transformers'
``output_hidden_states``, so their layer list (``clip_return_layer=6``,
``clip_teacher_return_interval=3.33`` on the 40-layer SigLIP 2 1B: the inputs
of layers ``40 - int(i * 3.33) - 1``) is ``layers=(23, 26, 30, 33, 36, 39)``
here. They also L2-normalise the pooled output of each frame before averaging
it over frames; :attr:`SigLIPTeacherOutput.pooled` is left unnormalised.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.hooks import RemovableHandle
from transformers import Siglip2VisionModel

from mmivnext.registry import MODELS
from ..data_preprocessors.video_pretrain_data_preprocessor import (
    IMAGENET_MEAN, IMAGENET_STD)
from ..utils.hf_image import (SIGLIP_MODEL_CLASSES, clips_to_model_images,
                              load_pretrained_strict, native_image_size,
                              register_normalisation,
                              run_siglip_vision_model)
from ..utils.dtypes import parse_teacher_dtype
from .base_frozen_teacher import BaseFrozenTeacher


class _LastStateKept(Exception):
    """Ends a teacher forward once the last hidden state it needs is kept."""


@dataclass
class SigLIPTeacherOutput:
    """What :meth:`SigLIPTeacher.forward` returns, per frame of the clip.

    Tokens are the teacher's patch tokens (SigLIP has no cls token) in
    row-major ``(h, w)`` order, ``w`` fastest, as the student's tokens in a
    frame. All tensors are float32.

    Attributes:
        hidden_states (list[Tensor]): One ``[B, T, N_t, C_t]`` tensor per
            layer in ``SigLIPTeacher.layers``, each token L2-normalised over
            ``C_t``. ``N_t = H_t * W_t``.
        pooled (Tensor | None): ``[B, T, C_t]`` output of the MAP head
            (transformers' ``pooler_output``), not normalised. None unless
            asked for.
        attention (Tensor | None): ``[B, T, N_t]`` attention of the MAP head's
            probe over the patch tokens, averaged over heads; each frame's row
            sums to 1. None unless asked for.
        grid_size (tuple[int, int, int]): ``(T, H_t, W_t)``.
    """
    hidden_states: List[Tensor]
    pooled: Optional[Tensor]
    attention: Optional[Tensor]
    grid_size: Tuple[int, int, int]


@MODELS.register_module()
class SigLIPTeacher(BaseFrozenTeacher):
    """Frozen SigLIP / SigLIP 2 image teacher, run on every frame of a clip.

    The clip, normalised with ``input_mean`` / ``input_std`` (the statistics
    of :class:`~mmivnext.models.data_preprocessors.VideoPretrainDataPreprocessor`),
    is turned back into 0-255 frames, resized to ``image_size`` and
    normalised with the checkpoint's statistics, then run as one batch of
    ``B * T`` images (see :meth:`preprocess`). The resize is the authors'
    plain ``F.interpolate`` without antialiasing by default; with
    ``antialias=True`` the result is the same as transformers' SigLIP image
    processor on float frames (which does not clamp after resizing either).

    The checkpoint's statistics and resize mode come from its
    ``preprocessor_config.json`` (``image_mean``, ``image_std``,
    ``rescale_factor``, ``resample``); without one, SigLIP's ``mean = std =
    0.5`` in 0-1 scale and bicubic resizing.

    Frozen and held outside the module tree as every teacher is
    (:class:`BaseFrozenTeacher`), as the plain attribute :attr:`vision_model`;
    its only buffers are the non-persistent normalisation statistics.

    Grid
    ----
    The teacher's token grid is ``image_size // patch_size`` squared per frame
    (:attr:`token_grid`); the Stage-1 algorithm needs it to equal the
    student's grid (e.g. student patch 14 at 224 px -> 16 x 16, so a patch-16
    teacher at 256 px, as the authors run SigLIP 2). A fixed-resolution
    checkpoint run at another ``image_size`` interpolates its position
    embedding (bicubic, transformers' ``interpolate_pos_encoding``, as the
    authors' teacher does); NaFlex checkpoints take any size.

    Args:
        pretrained (str): Hub id or local folder of a SigLIP or SigLIP 2
            checkpoint (full or vision-only), loaded at construction.
        layers (Sequence[int]): Indices into transformers' hidden states
            (``0`` = patch embeddings, ``i`` = output of encoder layer ``i``,
            before the post-layernorm; negative from the end, ``-1`` = last
            layer) to return; only these are kept during the forward, and
            when neither pooled output nor attention is asked for, no layer
            after the last of them runs. Defaults to the last six layers.
        input_mean (Sequence[float]): Per-channel mean the clips were
            normalised with, 0-255 scale. Defaults to ImageNet's.
        input_std (Sequence[float]): Per-channel std, 0-255 scale. Defaults to
            ImageNet's.
        image_size (int, optional): Side of the square frames the teacher
            sees, a multiple of the patch size. Defaults to the checkpoint's
            (``image_size``, or ``sqrt(num_patches) * patch_size`` for NaFlex).
        interpolation (str, optional): ``'bilinear'`` or ``'bicubic'``.
            Defaults to the checkpoint's ``resample``, else ``'bicubic'``.
        antialias (bool): Resize with antialiasing, as transformers' image
            processors (PIL) do. Defaults to False: the authors resize the
            clip with a plain bicubic ``F.interpolate``
            (``engines/engine_for_stage1.py:72-78``).
        dtype (str | torch.dtype, optional): Dtype of the teacher's weights
            and computation: ``'float32'`` (default), ``'bfloat16'`` or
            ``'float16'``. Outputs are float32 either way.
        attn_implementation (str): transformers attention backend of the
            encoder (``'sdpa'``, ``'eager'``, ``'flash_attention_2'``).
            Defaults to ``'sdpa'``. The MAP head always uses
            ``nn.MultiheadAttention``.

    Attributes:
        vision_model (PreTrainedModel): The frozen transformers model.
    """

    def __init__(self,
                 pretrained: str,
                 layers: Sequence[int] = (-6, -5, -4, -3, -2, -1),
                 input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD,
                 image_size: Optional[int] = None,
                 interpolation: Optional[str] = None,
                 antialias: bool = False,
                 dtype: Union[str, torch.dtype, None] = None,
                 attn_implementation: str = 'sdpa') -> None:
        super().__init__()
        dtype = parse_teacher_dtype(dtype)
        if interpolation not in (None, 'bilinear', 'bicubic'):
            raise ValueError("interpolation must be 'bilinear' or 'bicubic', "
                             f'got {interpolation!r}')

        model = self.hold(
            'vision_model',
            load_pretrained_strict(pretrained, SIGLIP_MODEL_CLASSES, dtype,
                                   attn_implementation, 'SigLIPTeacher'))

        config = model.config
        self.pretrained = pretrained
        self.is_naflex = isinstance(model, Siglip2VisionModel)
        self.patch_size = config.patch_size
        self.native_size = native_image_size(model)
        self.image_size = image_size or self.native_size
        if self.image_size % self.patch_size:
            raise ValueError(f'image_size {self.image_size} is not a multiple '
                             f'of the patch size {self.patch_size}')

        num_states = config.num_hidden_layers + 1
        bad = [i for i in layers if not -num_states <= i < num_states]
        if bad:
            raise ValueError(
                f'layers {bad} out of range: {pretrained!r} has '
                f'{num_states} hidden states (embeddings + '
                f'{config.num_hidden_layers} layers)')
        self.layers = tuple(i % num_states for i in layers)

        resample = register_normalisation(
            self, pretrained, 'SigLIPTeacher', input_mean, input_std,
            config.num_channels, ('teacher_mean', 'teacher_std'))
        self.interpolation = interpolation or resample or 'bicubic'
        self.antialias = antialias

    @property
    def has_head(self) -> bool:
        """Whether the checkpoint has the MAP head (``vision_use_head``)."""
        return bool(self.vision_model.config.vision_use_head)

    @property
    def embed_dims(self) -> int:
        """Channels ``C_t`` of the hidden states and pooled output."""
        return self.vision_model.config.hidden_size

    @property
    def token_grid(self) -> Tuple[int, int]:
        """``(H_t, W_t)`` tokens per frame."""
        side = self.image_size // self.patch_size
        return side, side

    def extra_repr(self) -> str:
        return (f'pretrained={self.pretrained!r}, '
                f'model={type(self.vision_model).__name__}, '
                f'image_size={self.image_size}, layers={self.layers}, '
                f'interpolation={self.interpolation!r}, '
                f'antialias={self.antialias}, dtype={self.vision_model.dtype}')

    def preprocess(self, inputs: Tensor) -> Tensor:
        """Turn normalised clips into the teacher's normalised images.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` clips, ``(x - input_mean) /
                input_std``.

        Returns:
            Tensor: ``[B * T, C, S, S]`` images (``S = image_size``),
            frame-major within a sample (row ``b * T + t``), in the teacher's
            dtype.
        """
        return clips_to_model_images(inputs, self.input_mean, self.input_std,
                                     self.teacher_mean, self.teacher_std,
                                     self.image_size, self.interpolation,
                                     self.vision_model.dtype, self.antialias)

    @torch.no_grad()
    def forward(self,
                inputs: Tensor,
                return_pooled: bool = True,
                return_attention: bool = True) -> SigLIPTeacherOutput:
        """Teacher features of every frame.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` clips normalised with
                ``input_mean`` / ``input_std``.
            return_pooled (bool): Return the MAP head's output.
            return_attention (bool): Return the MAP head's attention.

        Returns:
            SigLIPTeacherOutput: hidden states ``[B, T, N_t, C_t]`` of
            :attr:`layers`, pooled ``[B, T, C_t]``, attention ``[B, T, N_t]``
            and the grid ``(T, H_t, W_t)``.
        """
        if (return_pooled or return_attention) and not self.has_head:
            raise ValueError(
                f'{self.pretrained!r} has no MAP head (vision_use_head='
                f'False): call with return_pooled=False, '
                f'return_attention=False')
        batch, frames = inputs.shape[0], inputs.shape[2]
        images = self.preprocess(inputs)  # [B * T, C, S, S]

        # The head's nn.MultiheadAttention returns its head-averaged weights
        # [B * T, 1, N_t] (need_weights and average_attn_weights default to
        # True); catch them on the way out.
        captured = []
        hooks = []
        if return_attention:
            hooks.append(self.vision_model.head.attention.register_forward_hook(
                lambda module, args, output: captured.append(output[1])))
        states = {}
        hooks += self._keep_hidden_states(
            states, stop_after_last=not (return_pooled or return_attention))
        try:
            output = run_siglip_vision_model(self.vision_model, images,
                                             output_hidden_states=False)
        except _LastStateKept:
            output = None
        finally:
            for hook in hooks:
                hook.remove()

        height, width = self.token_grid
        hidden_states = [
            F.normalize(states[i].float(), dim=-1).view(
                batch, frames, height * width, -1) for i in self.layers
        ]
        pooled = attention = None
        if return_pooled:
            pooled = output.pooler_output.float().view(batch, frames, -1)
        if return_attention:
            if captured[0] is None:
                raise RuntimeError(
                    'the MAP head of transformers no longer returns its '
                    'attention weights (need_weights=False)')
            attention = captured[0].float().view(batch, frames, -1)
        return SigLIPTeacherOutput(
            hidden_states=hidden_states,
            pooled=pooled,
            attention=attention,
            grid_size=(frames, height, width))

    def _keep_hidden_states(self, states: dict, stop_after_last: bool
                            ) -> List[RemovableHandle]:
        """Hooks that put hidden state ``k`` of :attr:`layers` into
        ``states[k]`` during a forward, so that only those are kept
        (transformers' ``output_hidden_states`` keeps all ``n + 1``).

        State ``k < n`` is the input of encoder layer ``k``, state ``n`` the
        output of the last layer (before ``post_layernorm``). With
        ``stop_after_last``, the hook of the last state needed raises
        :class:`_LastStateKept`, so no later layer runs.

        Returns:
            list[RemovableHandle]: The hooks, to remove after the forward.
        """
        layers = self.vision_model.encoder.layers
        last = max(self.layers, default=None)

        def keeper(k):
            def keep(hidden):
                states[k] = hidden
                if stop_after_last and k == last:
                    raise _LastStateKept

            return keep

        hooks = []
        for k in set(self.layers):
            keep = keeper(k)
            if k < len(layers):
                hooks.append(layers[k].register_forward_pre_hook(
                    lambda module, args, keep=keep: keep(args[0])))
            else:
                hooks.append(layers[-1].register_forward_hook(
                    lambda module, args, output, keep=keep: keep(output)))
        return hooks

    def targets(self, inputs: Tensor) -> Tensor:
        """The last of :attr:`layers`, ``[B, T * N_t, C_t]`` (one frame per
        student temporal token, the teacher's grid = the student's)."""
        out = self(inputs, return_pooled=False, return_attention=False)
        return out.hidden_states[-1].flatten(1, 2)
