"""Data transforms.

The pretraining pipelines use mmaction2's transforms (``DecordInit``,
``UniformSample``, ``DecordDecode``, ``MultiScaleCrop``, ``Flip``,
``FormatShape``, ``PackActionInputs``), named with their scope
(``'mmaction.Flip'``), and this package's ``Resize`` (``'mmivnext.Resize'``:
mmaction2's with a choice of resize backend, PIL's bilinear as the authors').
Transforms of mmivnext's own go here.
"""
from .depth_transforms import (CropVideoDepth, FlipVideoDepth,
                               LoadVideoDepthWindow, PackVideoDepthInputs,
                               ResizeVideoDepth)
from .resize import Resize
from .sample_frames_by_time import SampleFramesByTime
from .tracking_transforms import (LoadTrackingFrames, PackTrackingInputs,
                                  ResizeTrackingClip)

__all__ = ['Resize', 'SampleFramesByTime',
           'LoadTrackingFrames', 'PackTrackingInputs', 'ResizeTrackingClip',
           'CropVideoDepth', 'FlipVideoDepth', 'LoadVideoDepthWindow',
           'PackVideoDepthInputs', 'ResizeVideoDepth']
