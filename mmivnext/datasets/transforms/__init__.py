"""Data transforms.

The pretraining pipelines use this package's ``VideoInit`` / ``VideoDecode``
(``'mmivnext.VideoInit'``: a choice of decoder, decord, PyAV or torchcodec)
and ``Resize`` (``'mmivnext.Resize'``: mmaction2's with a choice of resize
backend, PIL's bilinear as the authors'), and mmaction2's transforms
(``UniformSample``, ``MultiScaleCrop``, ``Flip``, ``FormatShape``,
``PackActionInputs``), named with their scope (``'mmaction.Flip'``).
Transforms of mmivnext's own go here.
"""
from .depth_transforms import (CropVideoDepth, FlipVideoDepth,
                               LoadVideoDepthWindow, PackVideoDepthInputs,
                               ResizeVideoDepth)
from .resize import Resize
from .sample_frames_by_time import SampleFramesByTime
from .sample_sliding_windows import SampleSlidingWindows, sliding_windows
from .tracking_transforms import (LoadTrackingFrames, PackTrackingInputs,
                                  ResizeTrackingClip)
from .video_decode import (VIDEO_BACKENDS, VideoDecode, VideoInit,
                           available_video_backends, open_video)

__all__ = ['VIDEO_BACKENDS', 'VideoInit', 'VideoDecode', 'open_video',
           'available_video_backends', 'Resize', 'SampleFramesByTime',
           'SampleSlidingWindows', 'sliding_windows',
           'LoadTrackingFrames', 'PackTrackingInputs', 'ResizeTrackingClip',
           'CropVideoDepth', 'FlipVideoDepth', 'LoadVideoDepthWindow',
           'PackVideoDepthInputs', 'ResizeVideoDepth']
