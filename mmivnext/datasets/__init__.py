"""Video datasets (unlabeled videos, EK100 anticipation, video depth, box
tracking), the tracking-window builder, samplers and transforms.

The synthetic sets that stand in for real data in the demo and the tests are
written by :mod:`mmivnext.testing`.
"""
from .box_tracking_dataset import VideoBoxTrackingDataset
from .ek100_anticipation_dataset import (EpicKitchensAnticipationDataset,
                                         build_action_map, load_action_map,
                                         read_ek100_csv, save_action_map)
from .samplers import SeededSampler
from .tracking_windows import WindowRules, build_windows
from .transforms import *  # noqa: F401,F403
from .video_dataset import UnlabeledVideoDataset, VideoReadError
from .video_depth_dataset import VideoDepthDataset

__all__ = ['EpicKitchensAnticipationDataset', 'build_action_map',
           'load_action_map', 'read_ek100_csv', 'save_action_map',
           'VideoBoxTrackingDataset', 'WindowRules', 'build_windows',
           'UnlabeledVideoDataset', 'VideoReadError', 'VideoDepthDataset',
           'SeededSampler']
