"""Video depth probe: a frozen encoder and a trained depth head (paper Table 6,
"w/ a simple probing head"; appendix A.3)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmivnext.registry import MODELS
from ..backbones import PerFrameImageEncoder, VisionTransformer3D

#: ImageNet mean and std of RGB channels, in the 0-255 scale of the frames.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class DepthProbe(BaseModel):
    """Dense depth of a video clip from a frozen encoder's tokens.

    ``forward`` reads like the probe: normalised clip ``[B, C, T, H, W]`` ->
    frozen :class:`VisionTransformer3D` or, for image models,
    :class:`PerFrameImageEncoder` (no gradients, eval mode) -> tokens
    ``[B, L, C]`` -> :class:`~mmivnext.models.heads.DepthProbeHead` ->
    log-depth ``[B, T, H, W]``. Only the head trains; it owns the loss.

    The encoder must be fully frozen (``frozen_stages`` equal to its number
    of layers, which also freezes its final norm and projector; ``frozen``
    for a :class:`PerFrameImageEncoder`) and return one raw token tensor
    (``out_type='raw'``, a single ``out_indices``); anything else raises a
    ValueError when the probe is built. The encoder
    stays in the state dict, so that a probe checkpoint tests on its own
    (``tools/test.py`` does not run ``init_weights``).

    Modes of ``forward(inputs, data_samples, mode)``:

    - ``'loss'``: ``dict(loss_depth=...)`` from the samples' ``gt_depth``;
    - ``'predict'``: the data samples with ``pred_depth`` (metres,
      ``[T, H, W]``), for :class:`~mmivnext.evaluation.DepthMetric`;
    - ``'tensor'``: the predicted log-depth ``[B, T, H, W]``.

    Args:
        backbone (dict): The encoder, a ``VisionTransformer3D`` or
            ``PerFrameImageEncoder`` config.
        head (dict): The head, e.g. ``dict(type='DepthProbeHead', ...)``; its
            ``num_frames`` and ``img_size`` are the clip's.
        data_preprocessor (dict, optional): Stacks and normalises the packed
            ``[C, T, H, W]`` uint8 clips. Defaults to
            ``dict(type='mmaction.ActionDataPreprocessor',
            format_shape='NCTHW')`` with ImageNet's mean and std.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='mmaction.ActionDataPreprocessor', mean=IMAGENET_MEAN,
                std=IMAGENET_STD, format_shape='NCTHW')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self._check_backbone(self.backbone)
        self.head = MODELS.build(head)

    @staticmethod
    def _check_backbone(backbone) -> None:
        if isinstance(backbone, PerFrameImageEncoder):
            if not backbone.frozen or backbone.out_type != 'raw':
                raise ValueError(
                    "DepthProbe reads a frozen encoder's raw tokens: build "
                    "the PerFrameImageEncoder with frozen=True, out_type="
                    f"'raw', got frozen={backbone.frozen}, out_type="
                    f'{backbone.out_type!r}')
            return
        if not isinstance(backbone, VisionTransformer3D):
            raise ValueError(f'DepthProbe needs a VisionTransformer3D or '
                             f'PerFrameImageEncoder backbone, got '
                             f'{type(backbone).__name__}')
        if backbone.frozen_stages != backbone.num_layers:
            raise ValueError(
                f'DepthProbe probes a frozen encoder: build the backbone with '
                f'frozen_stages={backbone.num_layers} (all its layers), got '
                f'frozen_stages={backbone.frozen_stages}')
        if backbone.out_type != 'raw' or len(backbone.out_indices) != 1:
            raise ValueError(
                "DepthProbe reads one layer's raw tokens: build the backbone "
                f"with out_type='raw' and one out_indices, got out_type="
                f'{backbone.out_type!r}, out_indices={backbone.out_indices}')

    def train(self, mode: bool = True) -> 'DepthProbe':
        """Set the training mode of the head; the encoder stays in eval
        mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """The frozen encoder's tokens ``[B, L, C]`` of clips ``[B, C, T, H,
        W]``, computed without gradients."""
        if tuple(inputs.shape[2:]) != self.head.out_size:
            raise ValueError(
                f'clips of {tuple(inputs.shape[2:])} (T, H, W) do not match '
                f'the head, built for {self.head.out_size}; set the head\'s '
                'num_frames / img_size to the pipeline\'s window and crop')
        with torch.no_grad():
            return self.backbone(inputs)  # [B, L, C]

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], List[BaseDataElement], Tensor]:
        """Run the probe on normalised clips ``[B, C, T, H, W]`` (class
        docstring for the modes)."""
        if mode == 'loss':
            return self.head.loss(self.extract_feat(inputs), data_samples)
        if mode == 'predict':
            return self.head.predict(self.extract_feat(inputs), data_samples)
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        raise RuntimeError(f'Invalid mode {mode!r}: expected "loss", '
                           '"predict" or "tensor".')
