"""An image encoder of transformers run on every frame of a clip.

:class:`PerFrameImageEncoder` is the image-model baseline of the probes: a
SigLIP, SigLIP 2 or DINO checkpoint applied frame by frame, returning tokens
in the forms :class:`VisionTransformer3D` returns them, so that the same
``Recognizer3D`` + probe head configs evaluate it.

Supported checkpoints (config ``model_type``)
---------------------------------------------
* SigLIP and SigLIP 2, fixed-resolution and NaFlex
  (:data:`~mmivnext.models.utils.hf_image.SIGLIP_MODEL_CLASSES`);
* ``dinov2``, ``dinov2_with_registers``, ``dinov3_vit``: ``AutoModel``
  (``Dinov2Model``, ``Dinov2WithRegistersModel``, ``DINOv3ViTModel``). Their
  cls and register tokens lead the sequence; they are dropped from the patch
  tokens, and the pooled output is the normalised cls token.

Other transformers image models are refused: their token layout (prefix
tokens, pooling) would have to be known here.

Loading (strict) and preprocessing are those of
:class:`~mmivnext.models.teachers.SigLIPTeacher`, from
:mod:`mmivnext.models.utils.hf_image`.
"""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor
from transformers import AutoModel, Siglip2VisionModel

from mmivnext.registry import MODELS
from ..data_preprocessors.video_pretrain_data_preprocessor import (
    IMAGENET_MEAN, IMAGENET_STD)
from ..utils.dtypes import parse_teacher_dtype
from ..utils.hf_image import (SIGLIP_MODEL_CLASSES, clips_to_model_images,
                              load_pretrained_strict, native_image_size,
                              register_normalisation,
                              run_siglip_vision_model)

#: ``model_type`` of the DINO checkpoints loaded with ``AutoModel``.
_DINO_TYPES = ('dinov2', 'dinov2_with_registers', 'dinov3_vit')

#: transformers model class of each supported config ``model_type``.
_MODEL_CLASSES = {**SIGLIP_MODEL_CLASSES, **dict.fromkeys(_DINO_TYPES, AutoModel)}


@MODELS.register_module()
class PerFrameImageEncoder(BaseModule):
    """A transformers image encoder applied to every frame of a clip.

    The ``B * T`` frames of a clip batch ``[B, C, T, H, W]`` run as one image
    batch; the patch tokens of frame ``t`` are tokens ``t * N .. (t + 1) * N``
    of the output (frame-major, row-major ``(h, w)`` within a frame, as
    :class:`VisionTransformer3D` orders its tokens with ``tubelet_size=1``).

    The weights are loaded from ``pretrained`` at construction (rule 3 of
    :mod:`mmivnext.models.utils.init`) and stay in the module tree
    (``model.`` keys of ``state_dict``), so probe checkpoints load strictly.

    Args:
        pretrained (str): Hub id or local folder of a supported checkpoint
            (module docstring), loaded at construction.
        out_type (str): Form of the output, for ``T`` frames of ``h x w``
            patch tokens (``N = h * w``) of width ``C``:

            - ``'raw'``: tokens ``[B, T * N, C]``, frame-major;
            - ``'featmap'``: ``[B, C, T, h, w]``;
            - ``'avg_featmap'``: mean of all patch tokens ``[B, C]``;
            - ``'pooled'``: the model's pooled output of each frame
              ``[B, T, C]`` (SigLIP's MAP head, DINO's normalised cls token).

            Defaults to ``'raw'``.
        layer (int, optional): Index into transformers' hidden states
            (``0`` = embeddings, ``i`` = output of layer ``i``, before the
            final norm; negative from the end) whose patch tokens are
            returned. None returns ``last_hidden_state`` (after the final
            norm: SigLIP's ``post_layernorm``, DINO's ``layernorm``).
            Layers after it still run. Not with ``out_type='pooled'``.
            Defaults to None.
        frozen (bool): ``requires_grad=False``, eval mode whatever
            ``train()`` says and no grad in :meth:`forward`, as probes need.
            Defaults to True.
        input_mean, input_std (Sequence[float]): Per-channel statistics the
            clips were normalised with, 0-255 scale. Default to ImageNet's.
        image_size (int, optional): Side of the square frames the model sees,
            a multiple of the patch size. Defaults to the checkpoint's
            (``image_size``; ``sqrt(num_patches) * patch_size`` for NaFlex).
            Fixed-resolution SigLIP interpolates its position embedding at
            other sizes; DINO and NaFlex take any size. Set it for the hub
            DINOv2 checkpoints, whose config says 518 while their image
            processor crops 224 px (frames are resized whole, never cropped:
            the clip pipeline crops).
        interpolation (str, optional): ``'bilinear'`` or ``'bicubic'``.
            Defaults to the checkpoint's ``resample``, else ``'bicubic'``.
        dtype (str | torch.dtype, optional): Dtype of the weights
            (:func:`~mmivnext.models.utils.dtypes.parse_teacher_dtype`).
            Outputs are float32 either way.
        attn_implementation (str): transformers attention backend. Defaults
            to ``'sdpa'``.

    Attributes:
        model (PreTrainedModel): The transformers model.
    """

    OUT_TYPES = ('raw', 'featmap', 'avg_featmap', 'pooled')

    def __init__(self,
                 pretrained: str,
                 out_type: str = 'raw',
                 layer: Optional[int] = None,
                 frozen: bool = True,
                 input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD,
                 image_size: Optional[int] = None,
                 interpolation: Optional[str] = None,
                 dtype: Union[str, torch.dtype, None] = None,
                 attn_implementation: str = 'sdpa') -> None:
        super().__init__(init_cfg=None)
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type must be one of {self.OUT_TYPES}, got '
                             f'{out_type!r}.')
        if out_type == 'pooled' and layer is not None:
            raise ValueError("out_type='pooled' is the model's pooled output "
                             'of its last layer; leave layer=None.')
        if interpolation not in (None, 'bilinear', 'bicubic'):
            raise ValueError("interpolation must be 'bilinear' or 'bicubic', "
                             f'got {interpolation!r}')
        self.model = load_pretrained_strict(
            pretrained, _MODEL_CLASSES, parse_teacher_dtype(dtype),
            attn_implementation, 'PerFrameImageEncoder')
        config = self.model.config
        self.pretrained = pretrained
        self.out_type = out_type
        self.frozen = frozen
        self.model_type = config.model_type
        self.is_naflex = isinstance(self.model, Siglip2VisionModel)
        self.is_dino = self.model_type in _DINO_TYPES
        if out_type == 'pooled' and not self.is_dino and \
                not config.vision_use_head:
            raise ValueError(f'{pretrained!r} has no MAP head (vision_use_head'
                             f"=False), so no pooled output: use another "
                             f'out_type')
        # Cls and register tokens in front of the patch tokens.
        self.num_prefix_tokens = (
            1 + getattr(config, 'num_register_tokens', 0)
            if self.is_dino else 0)

        self.patch_size = config.patch_size
        self.native_size = native_image_size(self.model)
        self.image_size = image_size or self.native_size
        if self.image_size % self.patch_size:
            raise ValueError(f'image_size {self.image_size} is not a multiple '
                             f'of the patch size {self.patch_size}')

        num_states = config.num_hidden_layers + 1
        if layer is not None and not -num_states <= layer < num_states:
            raise ValueError(
                f'layer {layer} out of range: {pretrained!r} has {num_states} '
                f'hidden states (embeddings + {config.num_hidden_layers} '
                f'layers)')
        self.layer = None if layer is None else layer % num_states

        # DINO's statistics have no default: its checkpoints ship them.
        resample = register_normalisation(
            self, pretrained, 'PerFrameImageEncoder', input_mean, input_std,
            config.num_channels, ('model_mean', 'model_std'),
            siglip_defaults=not self.is_dino)
        self.interpolation = interpolation or resample or 'bicubic'
        if frozen:
            self.model.requires_grad_(False)
            self.model.eval()
        self._is_init = True  # loaded above (mmivnext.models.utils.init)

    @property
    def embed_dims(self) -> int:
        """Channels ``C`` of the tokens and pooled output."""
        return self.model.config.hidden_size

    @property
    def token_grid(self) -> tuple:
        """``(h, w)`` patch tokens per frame."""
        side = self.image_size // self.patch_size
        return side, side

    def extra_repr(self) -> str:
        return (f'pretrained={self.pretrained!r}, out_type={self.out_type!r}, '
                f'layer={self.layer}, frozen={self.frozen}, '
                f'image_size={self.image_size}, '
                f'interpolation={self.interpolation!r}')

    def train(self, mode: bool = True) -> 'PerFrameImageEncoder':
        """Set the training mode; a frozen model stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    def preprocess(self, inputs: Tensor) -> Tensor:
        """Clips ``[B, C, T, H, W]`` to the model's images ``[B * T, C, S,
        S]`` (:func:`~mmivnext.models.utils.hf_image.clips_to_model_images`,
        ``S = image_size``)."""
        return clips_to_model_images(inputs, self.input_mean, self.input_std,
                                     self.model_mean, self.model_std,
                                     self.image_size, self.interpolation,
                                     self.model.dtype)

    def _run(self, images: Tensor):
        """Run the transformers model on ``[N, C, S, S]`` images."""
        with_hidden_states = self.layer is not None
        if self.is_dino:
            return self.model(pixel_values=images,
                              output_hidden_states=with_hidden_states)
        return run_siglip_vision_model(self.model, images,
                                       output_hidden_states=with_hidden_states)

    def forward(self, inputs: Tensor) -> Tensor:
        """Encode every frame of normalised clips ``[B, C, T, H, W]``.

        Returns:
            Tensor: float32, in the ``out_type`` form (class docstring).
        """
        batch, frames = inputs.shape[0], inputs.shape[2]
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.frozen):
            output = self._run(self.preprocess(inputs))
        if self.out_type == 'pooled':
            return output.pooler_output.float().view(batch, frames, -1)
        if self.layer is None:
            tokens = output.last_hidden_state
        else:
            tokens = output.hidden_states[self.layer]
        tokens = tokens[:, self.num_prefix_tokens:].float()  # [BT, N, C]
        height, width = self.token_grid
        tokens = tokens.reshape(batch, frames * height * width, -1)
        if self.out_type == 'raw':
            return tokens  # [B, T * N, C]
        if self.out_type == 'avg_featmap':
            return tokens.mean(dim=1)  # [B, C]
        return tokens.view(batch, frames, height, width, -1).permute(
            0, 4, 1, 2, 3).contiguous()  # [B, C, T, h, w]
