"""Base class of the self-supervised video pretraining algorithms."""
from abc import abstractmethod
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmivnext.registry import MODELS
from ..maskers import MaskIndices
from ..utils import patchify_3d, sdpa_backends_context


def gather_tokens(x: Tensor, indices: Tensor) -> Tensor:
    """Pick tokens by index.

    Args:
        x (Tensor): ``[B, N, C]``.
        indices (Tensor): LongTensor ``[B, K]`` of positions in ``[0, N)``.

    Returns:
        Tensor: ``[B, K, C]``.
    """
    return torch.gather(
        x, 1, indices.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _size(value: Any) -> Any:
    """Sizes compare as tuples whatever sequence holds them."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def with_sizes(cfg: dict, part: str, **sizes: Any) -> dict:
    """A part's config with the sizes that the built parts fix.

    Configs leave these sizes out: the algorithm takes them from the built
    backbone, teacher and predictor, so that a clip size, an ``arch`` or a
    teacher changes in one place. A size a config does give must agree.

    Args:
        cfg (dict): The part's config.
        part (str): Its name, for errors.
        **sizes: The sizes to set, e.g. ``in_dims=768``.

    Returns:
        dict: A copy of ``cfg`` with ``sizes`` set.

    Raises:
        ValueError: ``cfg`` gives a size that disagrees, naming both.
    """
    cfg = dict(cfg)
    for key, value in sizes.items():
        given = cfg.get(key)
        if given is not None and _size(given) != _size(value):
            raise ValueError(
                f'{part}.{key}={given!r} disagrees with the built parts, '
                f'which give {value!r}: leave it out, the algorithm sets it.')
        cfg[key] = value
    return cfg


def normalize_patches(patches: Tensor,
                      eps: float = 1e-6) -> Tuple[Tensor, Tensor, Tensor]:
    """Normalise each patch by its own mean and std (MAE's ``norm_pix_loss``).

    Args:
        patches (Tensor): ``[..., P]``.
        eps (float): Added to the variance. Defaults to 1e-6.

    Returns:
        tuple[Tensor, Tensor, Tensor]: the normalised patches ``[..., P]``,
        their means and stds ``[..., 1]`` (``patches = out * std + mean``).
    """
    mean = patches.mean(dim=-1, keepdim=True)
    std = (patches.var(dim=-1, keepdim=True) + eps).sqrt()
    return (patches - mean) / std, mean, std


class BaseVideoSelfSupervisor(BaseModel):
    """The loop every pretraining algorithm shares.

    :meth:`loss` runs the teachers once (:meth:`teacher_forward`), draws the
    masks and sums the losses of :meth:`mask_losses` over them. Subclasses
    implement those two methods; the masks, the predictor on the masked
    positions and the pixel loss are here, so that the stages differ only
    where the paper says they do. ``forward`` dispatches on ``mode`` as
    MMEngine expects: ``'loss'``, ``'predict'``, ``'tensor'`` (the encoder's
    output on the whole clip). The parts' sizes are set from the built parts
    (:func:`with_sizes`).

    Args:
        backbone (dict): The student encoder, a ``VisionTransformer3D``.
        masker (dict): A masker (:class:`~mmivnext.models.maskers.BaseMasker`).
        teacher (dict, optional): A frozen teacher. Defaults to None.
        predictor (dict, optional): Fills the masked positions from the
            student's visible tokens. Defaults to None.
        pixel_head (dict, optional): Reconstructs the masked patches' pixels
            from the predictor's vectors; its loss is ``loss_pixel``.
            Defaults to None.
        norm_pixel_targets (bool): Normalise each target patch
            (:func:`normalize_patches`). Defaults to False: the pixels as the
            data preprocessor normalised them.
        data_preprocessor (dict, optional): Normalises the packed clips.
            Defaults to ``dict(type='VideoPretrainDataPreprocessor')``.
        sdpa_backends (Sequence[str], optional): Restrict every attention of
            the forward to these SDPA kernels
            (:func:`~mmivnext.models.utils.sdpa_backends_context`). Defaults
            to None (PyTorch picks).
        compile_encoder (bool | dict): Compile the student encoder
            (``nn.Module.compile``: parameter names and checkpoints are
            unchanged); a dict gives ``torch.compile``'s options. Defaults to
            False.
        init_cfg (dict | list[dict], optional): See
            :mod:`mmivnext.models.utils.init`. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 masker: dict,
                 teacher: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 pixel_head: Optional[dict] = None,
                 norm_pixel_targets: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 sdpa_backends: Optional[Sequence[str]] = None,
                 compile_encoder: Union[bool, dict] = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='VideoPretrainDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.masker = MODELS.build(masker)
        self.teacher = MODELS.build(teacher) if teacher else None
        self.predictor = MODELS.build(with_sizes(
            predictor, 'predictor', in_dims=self.backbone.embed_dims,
            grid_size=self.backbone.grid_size,
            num_cls_tokens=self.backbone.num_cls_tokens)) if predictor \
            else None
        self.pixel_head = None
        if pixel_head:
            if self.predictor is None:
                raise ValueError('pixel_head decodes the predictor\'s '
                                 'vectors: set predictor too.')
            self.pixel_head = MODELS.build(with_sizes(
                pixel_head, 'pixel_head',
                target_dims=self.backbone.in_channels *
                self.backbone.tubelet_size * self.backbone.patch_size**2,
                cond_dims=self.predictor.embed_dims))
        self.norm_pixel_targets = norm_pixel_targets
        if self.backbone.out_type != 'raw':
            raise ValueError("The backbone must have out_type='raw', got "
                             f'{self.backbone.out_type!r}.')
        sdpa_backends_context(sdpa_backends)  # validate the names now
        self.sdpa_backends = None if sdpa_backends is None else \
            tuple(sdpa_backends)
        if not isinstance(compile_encoder, (bool, dict)):
            raise TypeError('compile_encoder must be a bool or a dict of '
                            f'torch.compile options, got {compile_encoder!r}')
        if compile_encoder:
            self.backbone.compile(**(compile_encoder if isinstance(
                compile_encoder, dict) else {}))

    def token_grid(self, inputs: Tensor) -> Tuple[int, int, int]:
        """The ``(T', H', W')`` token grid of clips ``[B, C, T, H, W]``."""
        tubelet = self.backbone.tubelet_size
        patch = self.backbone.patch_size
        _, _, T, H, W = inputs.shape
        return T // tubelet, H // patch, W // patch

    def generate_masks(self,
                       inputs: Tensor,
                       attention: Optional[Tensor] = None,
                       generator: Optional[torch.Generator] = None
                       ) -> List[MaskIndices]:
        """The masks of a batch, one per mask config of the masker.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]``.
            attention (Tensor, optional): The teacher's attention; passed on
                only to maskers with ``needs_attention``.
            generator (torch.Generator, optional): For the masker's draws.

        Returns:
            list[MaskIndices]: One per mask config
            (:class:`~mmivnext.models.maskers.BaseMasker`).
        """
        return self.masker(
            inputs.shape[0], self.token_grid(inputs), device=inputs.device,
            attention=attention if self.masker.needs_attention else None,
            generator=generator)

    def loss(self, inputs: Tensor,
             data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """The training losses of a batch of clips.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            data_samples (list, optional): Unused (no labels).

        Returns:
            dict[str, Tensor]: The losses of :meth:`mask_losses`; with
            several masks the names end with ``_<mask index>`` (MMEngine sums
            every ``loss*`` entry).
        """
        targets, attention = self.teacher_forward(inputs)
        masks = self.generate_masks(inputs, attention)
        losses = dict()
        for i, mask in enumerate(masks):
            suffix = f'_{i}' if len(masks) > 1 else ''
            for name, value in self.mask_losses(inputs, targets,
                                                mask).items():
                losses[name + suffix] = value
        return losses

    @abstractmethod
    def teacher_forward(self,
                        inputs: Tensor) -> Tuple[Any, Optional[Tensor]]:
        """Run the teachers once for the batch.

        Returns:
            tuple: The targets :meth:`mask_losses` takes, and the
            ``[B, T, H' * W']`` attention for a masker that needs it (else
            None).
        """

    @abstractmethod
    def mask_losses(self, inputs: Tensor, targets: Any,
                    mask: MaskIndices) -> Dict[str, Tensor]:
        """The losses of one mask, named ``loss_*``."""

    def predict_masked(self, tokens: Tensor, mask: MaskIndices,
                       inputs: Tensor) -> Tensor:
        """The predictor's vectors at the masked positions.

        Args:
            tokens (Tensor): ``[B, num_cls + K, C]`` the encoder's last layer
                on the visible tokens.
            mask (MaskIndices): The mask.
            inputs (Tensor): ``[B, C, T, H, W]``, for the token grid.

        Returns:
            Tensor: ``[B, M, D]``.
        """
        return self.predictor(tokens, mask.visible, mask.masked,
                              grid_size=self.token_grid(inputs),
                              masked_only=True)

    def pixel_targets(self, inputs: Tensor, masked: Tensor) -> Tensor:
        """The pixels of the masked patches, channel-major.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            masked (Tensor): LongTensor ``[B, M]``.

        Returns:
            Tensor: ``[B, M, C * tubelet * p * p]`` (588 for RGB 14x14),
            normalised per patch if ``norm_pixel_targets``.
        """
        patches = patchify_3d(
            inputs, self.backbone.patch_size, self.backbone.tubelet_size,
            channel_major=True)  # [B, N, P]
        target = gather_tokens(patches, masked)
        if self.norm_pixel_targets:
            target = normalize_patches(target)[0]
        return target

    def pixel_loss(self, z: Tensor, inputs: Tensor,
                   masked: Tensor) -> Tensor:
        """The pixel head's loss of the masked patches.

        Args:
            z (Tensor): ``[B, M, D]`` predictor vectors of the masked tokens.
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            masked (Tensor): LongTensor ``[B, M]``.

        Returns:
            Tensor: The scalar loss.
        """
        target = self.pixel_targets(inputs, masked)  # [B, M, P]
        return self.pixel_head.loss(z.flatten(0, 1), target.flatten(0, 1))

    def extract_feat(self, inputs: Tensor) -> Union[Tensor, Tuple[Tensor]]:
        """The encoder's output on the whole clip ``[B, C, T, H, W]``."""
        return self.backbone(inputs)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        with sdpa_backends_context(self.sdpa_backends):
            if mode == 'loss':
                return self.loss(inputs, data_samples)
            if mode == 'predict':
                return self.predict(inputs, data_samples)
            if mode == 'tensor':
                return self.extract_feat(inputs)
        raise RuntimeError(f'Invalid mode {mode!r}: expected "loss", '
                           '"predict" or "tensor".')

    def predict(self, inputs: Tensor, data_samples: Optional[list]):
        raise NotImplementedError(
            f'{type(self).__name__} has no predict mode.')
