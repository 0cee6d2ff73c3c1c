"""Batches clips for pretraining: stack, normalise, fold views into the batch."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmaction.models import ActionDataPreprocessor
from mmaction.structures import ActionDataSample

from mmivnext.registry import MODELS

#: ImageNet mean and std of RGB channels, in the 0-255 scale of decoded frames.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class VideoPretrainDataPreprocessor(ActionDataPreprocessor):
    """Data preprocessor of the pretraining algorithms.

    Takes the batch that the dataloader collates (``pseudo_collate``) from
    ``PackActionInputs`` after ``FormatShape('NCTHW')``, moves it to the
    model's device, casts it to float32 and normalises it::

        inputs:       list of B uint8 tensors [N, C, T, H, W]
                      (or one tensor [B, N, C, T, H, W])
        data_samples: list of B ActionDataSample
          ->
        inputs:       float32 [B * N, C, T, H, W], (x - mean) / std
        data_samples: list of B * N ActionDataSample

    ``N`` is the number of clips (views) per video. Pretraining treats each
    view as a sample of its own: views are folded into the batch, video-major
    (rows ``b * N .. b * N + N - 1`` come from video ``b``), and each video's
    data sample is repeated ``N`` times to match, as copies (``clone``) so
    that writing to one view's sample does not change another's. With
    ``N == 1`` the data samples are passed through unchanged.

    Unlike :class:`ActionDataPreprocessor`, which pads clips of different
    sizes with zeros, clips of different shapes raise an error: pretraining
    pipelines end with a fixed-size ``Resize``, so different shapes mean a
    broken pipeline. Batch blending (mixup) is label-based and not offered.

    Args:
        mean (Sequence[float]): Per-channel mean, in the scale of the inputs
            (0-255 for decoded frames). Defaults to ImageNet's.
        std (Sequence[float]): Per-channel std, same scale. Defaults to
            ImageNet's.
        to_rgb (bool): Reverse the channel order (BGR -> RGB) before
            normalising. Decord decodes RGB, so defaults to False.

    Attributes:
        mean (torch.Tensor): ``[C, 1, 1, 1]`` float32 buffer (not saved in
            checkpoints). With :attr:`std`, lets a module that needs other
            statistics (a SigLIP teacher) recover 0-255 frames as
            ``x * std + mean``.
        std (torch.Tensor): ``[C, 1, 1, 1]`` float32 buffer.
    """

    def __init__(self,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 to_rgb: bool = False) -> None:
        if len(mean) != len(std):
            raise ValueError(f'mean and std must have one value per channel,'
                             f' got {len(mean)} and {len(std)} values')
        super().__init__(mean=mean, std=std, to_rgb=to_rgb, to_float32=True,
                         blending=None, format_shape='NCTHW')

    def preprocess(
        self,
        inputs: Union[List[torch.Tensor], torch.Tensor],
        data_samples: List[ActionDataSample],
        training: bool = False,
    ) -> Tuple[torch.Tensor, Optional[List[ActionDataSample]]]:
        """Stack, fold views into the batch and normalise.

        Args:
            inputs (list[Tensor] | Tensor): The collated clips (shapes in the
                class docstring), on the model's device.
            data_samples (list[ActionDataSample]): B samples, or None.
            training (bool): Unused: training and testing preprocess alike.

        Returns:
            tuple: The inputs and data samples (class docstring); None data
            samples stay None.

        Raises:
            ValueError: Clips of different shapes, not 6-D once stacked, or
                with another channel count than ``mean``.
        """
        if isinstance(inputs, torch.Tensor):
            batch = inputs
        else:
            shapes = sorted({tuple(x.shape) for x in inputs})
            if len(shapes) != 1:
                raise ValueError('all clips of a batch must have one shape '
                                 f'[N, C, T, H, W], got {shapes}')
            batch = torch.stack(inputs)
        if batch.ndim != 6:
            raise ValueError(
                'expected clips [N, C, T, H, W] (batch [B, N, C, T, H, W]) '
                f"from FormatShape('NCTHW'), got a batch of shape "
                f'{list(batch.shape)}')
        num_views, channels = batch.shape[1], batch.shape[2]
        if channels != self.mean.shape[0]:
            raise ValueError(f'inputs have {channels} channels but mean/std '
                             f'have {self.mean.shape[0]}')
        batch = batch.flatten(0, 1)  # [B * N, C, T, H, W]
        if self.to_rgb:
            batch = batch[:, [2, 1, 0]]
        batch = (batch.float() - self.mean) / self.std  # [B * N, C, T, H, W]
        if data_samples is not None and num_views > 1:
            data_samples = [
                sample.clone() if view else sample
                for sample in data_samples for view in range(num_views)
            ]
        return batch, data_samples
