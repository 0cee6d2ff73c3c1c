"""Data transforms.

The pretraining pipelines use mmaction2's transforms (``DecordInit``,
``UniformSample``, ``DecordDecode``, ``MultiScaleCrop``, ``Resize``, ``Flip``,
``FormatShape``, ``PackActionInputs``), which resolve by plain name in mmivnext's
scope; transforms of mmivnext's own go here.
"""
from .depth_transforms import (CropVideoDepth, FlipVideoDepth,
                               LoadVideoDepthWindow, PackVideoDepthInputs,
                               ResizeVideoDepth)
from .sample_frames_by_time import SampleFramesByTime
from .tracking_transforms import (LoadTrackingFrames, PackTrackingInputs,
                                  ResizeTrackingClip)

__all__ = ['SampleFramesByTime',
           'LoadTrackingFrames', 'PackTrackingInputs', 'ResizeTrackingClip',
           'CropVideoDepth', 'FlipVideoDepth', 'LoadVideoDepthWindow',
           'PackVideoDepthInputs', 'ResizeVideoDepth']
