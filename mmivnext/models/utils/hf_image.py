"""Run Hugging Face image models on the frames of normalised clips: loading,
image statistics, preprocessing and the SigLIP forward shared by
:class:`~mmivnext.models.teachers.SigLIPTeacher` and
:class:`~mmivnext.models.backbones.PerFrameImageEncoder`.
"""
import json
import math
from typing import Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import (AutoConfig, PreTrainedModel, Siglip2VisionModel,
                          SiglipVisionModel)
from transformers.utils import cached_file

#: transformers model class of each SigLIP config ``model_type``: SigLIP and
#: the fixed-resolution SigLIP 2 checkpoints (a full checkpoint loads its
#: vision tower) and the NaFlex SigLIP 2 checkpoints.
SIGLIP_MODEL_CLASSES = {
    'siglip': SiglipVisionModel,
    'siglip_vision_model': SiglipVisionModel,
    'siglip2': Siglip2VisionModel,
    'siglip2_vision_model': Siglip2VisionModel,
}

#: SigLIP's image statistics (0-1 scale), used when a checkpoint has no
#: ``preprocessor_config.json``; the defaults of ``SiglipImageProcessor``.
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)

#: ``F.interpolate`` mode of the PIL resampling codes that preprocessor
#: configs store as ``resample``.
_RESAMPLE_MODES = {2: 'bilinear', 3: 'bicubic'}


def load_pretrained_strict(pretrained: str,
                           model_classes: Mapping[str, type],
                           dtype: torch.dtype,
                           attn_implementation: str,
                           owner: str) -> PreTrainedModel:
    """Load a checkpoint with the class its ``model_type`` maps to.

    A checkpoint that lacks weights of the model is refused: transformers
    would initialise them at random. (Weights of another shape make
    transformers raise already; any it reports instead are refused too.)
    Weights the model does not use (e.g. the text tower of a full SigLIP
    checkpoint) are left to transformers, which logs them as unexpected.

    Args:
        pretrained (str): Hub id or local folder written by
            ``save_pretrained``.
        model_classes (Mapping[str, type]): transformers class (with
            ``from_pretrained``) of each supported config ``model_type``,
            e.g. :data:`SIGLIP_MODEL_CLASSES`.
        dtype (torch.dtype): Dtype of the loaded weights.
        attn_implementation (str): transformers attention backend
            (``'sdpa'``, ``'eager'``, ``'flash_attention_2'``, ...).
        owner (str): Name of the caller (e.g. ``'SigLIPTeacher'``) that starts
            the error messages.

    Returns:
        PreTrainedModel: The model with every weight from ``pretrained``.

    Raises:
        OSError: No transformers config can be read from ``pretrained``.
        ValueError: Its ``model_type`` is not in ``model_classes``, or weights
            of the model are missing (listed by key).
    """
    try:
        model_type = AutoConfig.from_pretrained(pretrained).model_type
    except (OSError, ValueError) as err:
        raise OSError(f'{owner}: cannot read a transformers config from '
                      f'pretrained={pretrained!r} (a hub id or a folder '
                      f'written by save_pretrained): {err}') from err
    if model_type not in model_classes:
        raise ValueError(
            f'{owner}: pretrained={pretrained!r} is a {model_type!r} '
            f'checkpoint; expected one of {sorted(model_classes)}')
    model, info = model_classes[model_type].from_pretrained(
        pretrained, dtype=dtype, attn_implementation=attn_implementation,
        output_loading_info=True)
    missing = sorted(info['missing_keys']) + sorted(info['mismatched_keys'])
    if missing:
        raise ValueError(
            f'{owner}: pretrained={pretrained!r} lacks weights of its model '
            f'(missing or of another shape), which transformers would '
            f'initialise at random: {missing}')
    return model


def read_image_statistics(
        pretrained: str,
        owner: str,
        siglip_defaults: bool = True
) -> Tuple[Tuple[float, ...], Tuple[float, ...], Optional[str]]:
    """Normalisation and resize mode of a checkpoint's image processor.

    Read from ``preprocessor_config.json`` (``image_mean``, ``image_std``,
    ``do_normalize``, ``rescale_factor``, ``do_rescale``, ``resample``) and
    turned into the statistics of 0-255 pixels: the model sees ``(pixel *
    rescale_factor - image_mean) / image_std = (pixel - mean) / std``.
    Without the file: SigLIP's statistics (:data:`SIGLIP_MEAN`,
    :data:`SIGLIP_STD`) and no resize mode, or an error with
    ``siglip_defaults=False`` (models whose statistics have no default).

    Args:
        pretrained (str): Hub id or local folder of the checkpoint.
        owner (str): Name of the caller that starts the error message.
        siglip_defaults (bool): Whether a checkpoint without the file takes
            SigLIP's statistics (else it is refused). Defaults to True.

    Returns:
        tuple: ``(mean, std, mode)``: per-channel ``mean`` and ``std`` in
        0-255 scale (``0`` and ``1`` with ``do_normalize=False``) and the
        ``F.interpolate`` mode of ``resample`` (``'bilinear'``,
        ``'bicubic'``; None when the config has no ``resample``).

    Raises:
        ValueError: ``resample`` is a PIL code other than bilinear (2) or
            bicubic (3).
        FileNotFoundError: No ``preprocessor_config.json`` and
            ``siglip_defaults=False``.
    """
    path = cached_file(pretrained, 'preprocessor_config.json',
                       _raise_exceptions_for_missing_entries=False)
    cfg = {}
    if path is not None:
        with open(path, encoding='utf-8') as file:
            cfg = json.load(file)
    elif not siglip_defaults:
        raise FileNotFoundError(
            f'{owner}: {pretrained!r} has no preprocessor_config.json, so '
            f'its image normalisation is unknown; save the image processor '
            f'next to the model (save_pretrained)')
    mean = cfg.get('image_mean', SIGLIP_MEAN)
    std = cfg.get('image_std', SIGLIP_STD)
    if not cfg.get('do_normalize', True):
        mean, std = (0.0, ) * len(mean), (1.0, ) * len(std)
    rescale = cfg.get('rescale_factor', 1 / 255) if cfg.get(
        'do_rescale', True) else 1.0
    mean = tuple(m / rescale for m in mean)
    std = tuple(s / rescale for s in std)
    resample = cfg.get('resample')
    if resample is not None and resample not in _RESAMPLE_MODES:
        raise ValueError(
            f'{owner}: the preprocessor config of {pretrained!r} '
            f'resamples with PIL code {resample}; set `interpolation` to '
            f"'bilinear' or 'bicubic' explicitly")
    return mean, std, _RESAMPLE_MODES.get(resample)


def register_normalisation(module: nn.Module, pretrained: str, owner: str,
                           input_mean: Sequence[float],
                           input_std: Sequence[float], channels: int,
                           model_names: Tuple[str, str],
                           siglip_defaults: bool = True) -> Optional[str]:
    """Register the statistics that take clips to a checkpoint's images.

    Four non-persistent float32 buffers ``[1, C, 1, 1]``: ``input_mean`` /
    ``input_std`` and the checkpoint's (:func:`read_image_statistics`)
    under ``model_names``, as :func:`clips_to_model_images` takes them.

    Args:
        module (nn.Module): Gets the buffers.
        pretrained (str): Hub id or folder of the checkpoint.
        owner (str): Name of the caller that starts the error messages.
        input_mean, input_std (Sequence[float]): Per-channel statistics the
            clips were normalised with, 0-255 scale.
        channels (int): The model's input channels ``C``.
        model_names (tuple[str, str]): Buffer names of the checkpoint's mean
            and std, e.g. ``('model_mean', 'model_std')``.
        siglip_defaults (bool): As for :func:`read_image_statistics`.
            Defaults to True.

    Returns:
        str | None: The checkpoint's resize mode (``'bilinear'`` /
        ``'bicubic'``), None if it names none.

    Raises:
        ValueError: ``input_mean`` / ``input_std`` do not have ``C`` values.
    """
    if len(input_mean) != channels or len(input_std) != channels:
        raise ValueError(f'{owner}: input_mean and input_std need {channels} '
                         f'values, got {len(input_mean)} and '
                         f'{len(input_std)}')
    model_mean, model_std, resample = read_image_statistics(
        pretrained, owner, siglip_defaults=siglip_defaults)
    for name, value in (('input_mean', input_mean), ('input_std', input_std),
                        (model_names[0], model_mean),
                        (model_names[1], model_std)):
        module.register_buffer(
            name, torch.tensor(value, dtype=torch.float32).view(1, -1, 1, 1),
            persistent=False)
    return resample


def native_image_size(model: PreTrainedModel) -> int:
    """Side of the square images a transformers image model was trained on.

    ``config.image_size``, except for NaFlex SigLIP 2
    (:class:`transformers.Siglip2VisionModel`), which has none:
    ``sqrt(num_patches) * patch_size``.

    Args:
        model (PreTrainedModel): SigLIP, SigLIP 2 or DINO image model.

    Returns:
        int: The side in pixels.
    """
    config = model.config
    if isinstance(model, Siglip2VisionModel):
        return math.isqrt(config.num_patches) * config.patch_size
    return config.image_size


def clips_to_model_images(clips: Tensor, input_mean: Tensor, input_std: Tensor,
                          model_mean: Tensor, model_std: Tensor,
                          image_size: int, interpolation: str,
                          dtype: torch.dtype,
                          antialias: bool = True) -> Tensor:
    """Turn normalised clips into an image model's normalised frames.

    The clips are turned back into 0-255 frames (float32), resized to
    ``image_size`` (skipped when the frames have that size already; no
    clamping, as transformers' image processors on float frames), normalised
    with the model's statistics and cast to ``dtype``.

    With ``antialias=True`` the resize is that of transformers' (PIL-based)
    image processors, whose filters are antialiased and whose bicubic kernel
    has ``a = -0.5``. With ``antialias=False`` it is a plain
    ``F.interpolate(mode, align_corners=False)``, whose bicubic kernel has
    ``a = -0.75``: the two differ even when upsampling.

    Args:
        clips (Tensor): ``[B, C, T, H, W]`` clips, ``(x - input_mean) /
            input_std`` for 0-255 pixels ``x``.
        input_mean, input_std (Tensor): ``[1, C, 1, 1]`` statistics the
            clips were normalised with, 0-255 scale.
        model_mean, model_std (Tensor): ``[1, C, 1, 1]`` statistics the model
            expects, 0-255 scale (:func:`read_image_statistics`).
        image_size (int): Side ``S`` of the square output images.
        interpolation (str): ``'bilinear'`` or ``'bicubic'``.
        dtype (torch.dtype): Dtype of the output (the model's).
        antialias (bool): See above. Defaults to True.

    Returns:
        Tensor: ``[B * T, C, S, S]`` images, frame-major within a sample
        (row ``b * T + t`` is frame ``t`` of sample ``b``).

    Raises:
        ValueError: ``clips`` is not ``[B, C, T, H, W]`` with the channels of
            ``input_mean``.
    """
    channels = input_mean.shape[1]
    if clips.ndim != 5 or clips.shape[1] != channels:
        raise ValueError(f'expected clips [B, {channels}, T, H, W], '
                         f'got {list(clips.shape)}')
    frames = clips.transpose(1, 2).flatten(0, 1).float()  # [BT, C, H, W]
    frames = frames * input_std + input_mean  # 0-255
    size = (image_size, image_size)
    if tuple(frames.shape[-2:]) != size:
        frames = F.interpolate(frames, size=size, mode=interpolation,
                               align_corners=False, antialias=antialias)
    frames = (frames - model_mean) / model_std
    return frames.to(dtype)


def naflex_patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into the patch sequences of NaFlex SigLIP 2.

    The layout of ``Siglip2ImageProcessor`` (without its resizing and
    padding): patches in row-major order, each flattened as ``(p_h, p_w, C)``.

    Args:
        images (Tensor): ``[N, C, H, W]`` images, ``H`` and ``W`` multiples
            of ``patch_size``.
        patch_size (int): Side ``p`` of the square patches.

    Returns:
        Tensor: ``[N, h * w, p * p * C]`` patches, ``h = H // p``,
        ``w = W // p``.

    Raises:
        ValueError: ``images`` is not 4-D or its sides are not multiples of
            ``patch_size``.
    """
    if images.ndim != 4 or images.shape[-2] % patch_size or \
            images.shape[-1] % patch_size:
        raise ValueError(f'expected images [N, C, H, W] with H and W '
                         f'multiples of the patch size {patch_size}, got '
                         f'{list(images.shape)}')
    num, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    patches = images.reshape(num, channels, rows, patch_size, cols, patch_size)
    return patches.permute(0, 2, 4, 3, 5, 1).reshape(
        num, rows * cols, patch_size * patch_size * channels)


def run_siglip_vision_model(model: PreTrainedModel, images: Tensor,
                            output_hidden_states: bool):
    """Run a SigLIP or NaFlex SigLIP 2 vision model on whole images.

    :class:`transformers.SiglipVisionModel` gets the images as they are and
    interpolates its position embedding when their size is not its
    ``image_size``. :class:`transformers.Siglip2VisionModel` (NaFlex) gets
    them patchified by :func:`naflex_patchify`, every patch valid.

    Args:
        model (PreTrainedModel): ``SiglipVisionModel`` or
            ``Siglip2VisionModel``.
        images (Tensor): ``[N, C, H, W]`` normalised images in the model's
            dtype, ``H`` and ``W`` multiples of the patch size.
        output_hidden_states (bool): Also return the hidden states.

    Returns:
        BaseModelOutputWithPooling: transformers' output: patch tokens
        ``last_hidden_state`` ``[N, h * w, C_m]`` in row-major ``(h, w)``
        order, ``pooler_output`` ``[N, C_m]`` (with a MAP head) and, if asked
        for, ``hidden_states``.
    """
    if not isinstance(model, Siglip2VisionModel):
        size = model.config.image_size
        return model(
            pixel_values=images,
            interpolate_pos_encoding=tuple(images.shape[-2:]) != (size, size),
            output_hidden_states=output_hidden_states)
    patch_size = model.config.patch_size
    patches = naflex_patchify(images, patch_size)  # [N, hw, p*p*C]
    num, num_patches = patches.shape[:2]
    rows, cols = images.shape[-2] // patch_size, images.shape[-1] // patch_size
    return model(
        pixel_values=patches,
        pixel_attention_mask=torch.ones(
            num, num_patches, dtype=torch.long, device=images.device),
        spatial_shapes=torch.tensor([[rows, cols]],
                                    device=images.device).expand(num, 2),
        output_hidden_states=output_hidden_states)
