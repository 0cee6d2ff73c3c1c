"""Base class of the self-supervised video pretraining algorithms."""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmivnext.registry import MODELS
from ..maskers import MaskIndices, SemanticMasker
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


class BaseVideoSelfSupervisor(BaseModel):
    """Shared plumbing of the pretraining algorithms.

    Subclasses implement :meth:`loss` (the method's figure in code) and may
    implement :meth:`predict`. ``forward`` dispatches on ``mode`` as MMEngine
    expects: ``'loss'`` for training, ``'predict'`` for validation/tests and
    tools, ``'tensor'`` for the encoder's features of the whole clip.

    Args:
        backbone (dict): The student encoder, a ``VisionTransformer3D``.
        data_preprocessor (dict, optional): Normalises the packed clips.
            Defaults to ``dict(type='VideoPretrainDataPreprocessor')``.
        sdpa_backends (Sequence[str], optional): Restrict every attention of
            the forward (encoder, teacher, predictor, heads) to these SDPA
            kernels: ``'flash'``, ``'efficient'``, ``'cudnn'``, ``'math'``
            (see :func:`~mmivnext.models.utils.sdpa_backends_context`).
            Defaults to None: PyTorch picks the fastest kernel the inputs
            allow (flash / memory-efficient / cuDNN on GPUs); ``['math']`` is
            the unfused reference path.
        compile_encoder (bool | dict): Compile the student encoder with
            ``torch.compile`` (``nn.Module.compile``: parameter names and
            checkpoints are unchanged). A dict gives ``torch.compile``'s
            options, e.g. ``dict(mode='max-autotune')``. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
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
        sdpa_backends_context(sdpa_backends)  # validate the names now
        self.sdpa_backends = None if sdpa_backends is None else \
            tuple(sdpa_backends)
        if not isinstance(compile_encoder, (bool, dict)):
            raise TypeError('compile_encoder must be a bool or a dict of '
                            f'torch.compile options, got {compile_encoder!r}')
        if compile_encoder:
            self.backbone.compile(**(compile_encoder if isinstance(
                compile_encoder, dict) else {}))
        #: Normalise each pixel target patch by its own mean and std.
        self.norm_pixel_targets = False

    def token_grid(self, inputs: Tensor) -> Tuple[int, int, int]:
        """The ``(T', H', W')`` token grid of clips ``[B, C, T, H, W]``."""
        tubelet = self.backbone.tubelet_size
        patch = self.backbone.patch_size
        _, _, T, H, W = inputs.shape
        return T // tubelet, H // patch, W // patch

    def generate_masks(self,
                       inputs: Tensor,
                       attention: Optional[Tensor] = None
                       ) -> List[MaskIndices]:
        """The masks of a batch, one per mask config of the masker.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]``.
            attention (Tensor, optional): ``[B, T, H' * W']`` attention of an
                image teacher; the semantic masker needs it.

        Returns:
            list[MaskIndices]: ``visible [B, K]`` and ``masked [B, M]``
            indices; one entry, or one per config of a ``MultiBlockMasker``.
        """
        grid = self.token_grid(inputs)
        if isinstance(self.masker, SemanticMasker):
            if attention is None:
                raise ValueError('The semantic masker needs the attention of '
                                 'an image teacher.')
            masks = self.masker(attention, grid_size=grid)
        else:
            masks = self.masker(inputs.shape[0], grid, device=inputs.device)
        return list(masks) if isinstance(masks, (list, tuple)) and not \
            isinstance(masks, MaskIndices) else [masks]

    def pixel_targets(self, inputs: Tensor, masked: Tensor) -> Tensor:
        """The pixels of the masked patches, channel-major.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` normalised clips.
            masked (Tensor): LongTensor ``[B, M]``.

        Returns:
            Tensor: ``[B, M, C * tubelet * p * p]`` (588 for RGB 14x14).
        """
        patches = patchify_3d(
            inputs, self.backbone.patch_size, self.backbone.tubelet_size,
            channel_major=True)  # [B, N, P]
        target = gather_tokens(patches, masked)
        if self.norm_pixel_targets:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

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

    @abstractmethod
    def loss(self, inputs: Tensor,
             data_samples: Optional[list]) -> Dict[str, Tensor]:
        """The training losses of a batch of clips ``[B, C, T, H, W]``."""

    def predict(self, inputs: Tensor, data_samples: Optional[list]):
        raise NotImplementedError(
            f'{type(self).__name__} has no predict mode.')
