"""Object-tracking probe of a frozen encoder (paper Table 7, appendix A.4)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmivnext.registry import MODELS

#: ImageNet mean and std of RGB channels, in the 0-255 scale of the frames.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class BoxTrackingProbe(BaseModel):
    """Track first-frame boxes through a window with a frozen video encoder.

    ``inputs`` -> frozen encoder (no grad, eval mode) -> feature map
    ``[B, C, T', H', W']`` -> :class:`~mmivnext.models.heads.BoxTrackingHead`
    with the first-frame boxes as queries -> boxes of frames ``2 .. T``.

    **Batches with different object counts.** Window ``b`` has ``N_b`` (1-25)
    objects; the batch is padded to ``N = max N_b`` objects. Padding rows have
    zero boxes and are never visible, so they are left out of the losses and
    the predictions (the head's queries are independent, so they do not
    change the real objects' outputs either).

    Modes of ``forward``:

    - ``'loss'``: ``dict(loss_bbox, loss_giou)`` (the head's losses).
    - ``'predict'``: the data samples, each with ``pred_boxes`` (float32
      ``[N_b, T, 4]``, normalised ``(x1, y1, x2, y2)`` clamped to
      ``[0, 1]``; frame 1 is the given first box, frames ``2 .. T`` are
      predicted).
    - ``'tensor'``: the head's output ``[B, N, T - 1, 4]`` (padded, not
      clamped).

    Every mode needs the data samples: their ``gt_boxes`` (``[N_b, T, 4]``,
    normalised) give the first-frame boxes, and ``gt_visible`` (``[N_b, T]``)
    the pairs the losses use; :class:`~mmivnext.datasets.PackTrackingInputs`
    packs both.

    Args:
        backbone (dict): A :class:`~mmivnext.models.VisionTransformer3D` with
            ``out_type='featmap'``, one output, and ``frozen_stages`` equal to
            its number of layers (all frozen; anything else raises a
            ValueError, since only the head is trained here).
        head (dict): A :class:`~mmivnext.models.heads.BoxTrackingHead`.
        data_preprocessor (dict, optional): Stacks the ``[C, T, H, W]`` clips
            to ``[B, C, T, H, W]`` and normalises them. Defaults to
            ``dict(type='mmaction.ActionDataPreprocessor', mean=<ImageNet>,
            std=<ImageNet>, format_shape='NCTHW')``.
        init_cfg (dict | list[dict], optional): Initialisation config; the
            encoder's weights come from its own ``init_cfg``.
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
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self._check_backbone()
        for param in self.backbone.parameters():
            param.requires_grad = False
        self.backbone.eval()

    def _check_backbone(self) -> None:
        backbone = self.backbone
        problems = []
        if getattr(backbone, 'out_type', None) != 'featmap':
            problems.append(f"out_type='featmap' (got "
                            f'{getattr(backbone, "out_type", None)!r})')
        if len(getattr(backbone, 'out_indices', ())) != 1:
            problems.append('one out_indices entry (got '
                            f'{getattr(backbone, "out_indices", None)})')
        num_layers = getattr(backbone, 'num_layers', None)
        if getattr(backbone, 'frozen_stages', None) != num_layers:
            problems.append(f'frozen_stages={num_layers} (all layers; got '
                            f'{getattr(backbone, "frozen_stages", None)})')
        if problems:
            raise ValueError(
                'BoxTrackingProbe trains only its head on a frozen '
                'VisionTransformer3D; build the backbone with ' +
                ', '.join(problems) + '.')
        if backbone.embed_dims != self.head.in_channels:
            raise ValueError(f'head.in_channels ({self.head.in_channels}) '
                             f'must equal the encoder width '
                             f'({backbone.embed_dims}).')

    def train(self, mode: bool = True) -> 'BoxTrackingProbe':
        """Set the head's mode; the encoder stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """The frozen encoder's feature map ``[B, C, T', H', W']`` of clips
        ``[B, C, T, H, W]``, without gradients."""
        if inputs.dim() != 5:
            raise ValueError(f'Expected clips [B, C, T, H, W], got '
                             f'{tuple(inputs.shape)}.')
        with torch.no_grad():
            feats = self.backbone(inputs)
        return feats[0] if isinstance(feats, (tuple, list)) else feats

    def _targets(self, data_samples: List[BaseDataElement],
                 device: torch.device) -> Tuple[Tensor, Tensor, List[int]]:
        """Pad the samples' boxes into a batch.

        Returns:
            tuple: ``boxes [B, N, T, 4]`` (float32, zero padding),
            ``visible [B, N, T]`` (bool, False for padding) and the object
            count of each sample.
        """
        if not data_samples:
            raise ValueError('BoxTrackingProbe needs the data samples: their '
                             'gt_boxes hold the first-frame boxes to track.')
        T = self.head.num_frames
        counts = []
        for sample in data_samples:
            boxes = sample.get('gt_boxes')
            visible = sample.get('gt_visible')
            name = (f'window {sample.metainfo.get("window_index", "?")} '
                    f'(sequence {sample.metainfo.get("sequence", "?")!r})')
            if boxes is None or visible is None:
                raise ValueError(f'{name}: the data sample has no gt_boxes / '
                                 'gt_visible (use PackTrackingInputs).')
            if boxes.dim() != 3 or boxes.shape[1:] != (T, 4) or \
                    visible.shape != boxes.shape[:2] or boxes.shape[0] < 1:
                raise ValueError(
                    f'{name}: expected gt_boxes [N >= 1, {T}, 4] and '
                    f'gt_visible [N, {T}] (head num_frames={T}), got '
                    f'{tuple(boxes.shape)} and {tuple(visible.shape)}.')
            counts.append(boxes.shape[0])
        B, N = len(data_samples), max(counts)
        boxes = torch.zeros(B, N, T, 4, device=device)
        visible = torch.zeros(B, N, T, dtype=torch.bool, device=device)
        for b, (sample, n) in enumerate(zip(data_samples, counts)):
            boxes[b, :n] = sample.gt_boxes.to(device, torch.float32)
            visible[b, :n] = sample.gt_visible.to(device, torch.bool)
        return boxes, visible, counts

    def loss(self, inputs: Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        """The head's losses on a batch (see the class docstring)."""
        boxes, visible, _ = self._targets(data_samples, inputs.device)
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, boxes[:, :, 0], boxes, visible)

    def predict(self, inputs: Tensor,
                data_samples: List[BaseDataElement]
                ) -> List[BaseDataElement]:
        """Set ``pred_boxes [N_b, T, 4]`` on each data sample."""
        boxes, _, counts = self._targets(data_samples, inputs.device)
        first = boxes[:, :, 0]  # [B, N, 4]
        pred = self.head(self.extract_feat(inputs), first)  # [B, N, T-1, 4]
        pred = torch.cat([first.unsqueeze(2), pred.clamp(0., 1.)], dim=2)
        for sample, boxes_b, n in zip(data_samples, pred.detach(), counts):
            sample.pred_boxes = boxes_b[:n].float()  # [N_b, T, 4]
        return data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], List[BaseDataElement], Tensor]:
        """Dispatch on ``mode``: ``'loss'``, ``'predict'`` or ``'tensor'``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            boxes, _, _ = self._targets(data_samples, inputs.device)
            return self.head(self.extract_feat(inputs), boxes[:, :, 0])
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}.')
