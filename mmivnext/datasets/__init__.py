"""Video datasets: the unlabeled-video list dataset and the synthetic demo set."""
from .box_tracking_dataset import VideoBoxTrackingDataset
from .demo_videos import DEMO_CLASSES, make_demo_videos, render_demo_clip
from .ek100_anticipation_dataset import (EpicKitchensAnticipationDataset,
                                         build_action_map, load_action_map,
                                         read_ek100_csv, save_action_map)
from .samplers import SeededSampler
from .synthetic_depth import make_synthetic_depth_sequences
from .synthetic_ek100 import make_synthetic_ek100
from .synthetic_tracking import make_synthetic_tracking
from .tracking_windows import WindowRules, build_windows
from .transforms import *  # noqa: F401,F403
from .video_dataset import UnlabeledVideoDataset, VideoReadError
from .video_depth_dataset import VideoDepthDataset

__all__ = ['EpicKitchensAnticipationDataset', 'build_action_map',
           'load_action_map', 'read_ek100_csv', 'save_action_map',
           'make_synthetic_ek100',
           'VideoBoxTrackingDataset', 'make_synthetic_tracking',
           'WindowRules', 'build_windows',
           'UnlabeledVideoDataset', 'VideoReadError', 'DEMO_CLASSES',
           'make_demo_videos', 'render_demo_clip', 'VideoDepthDataset',
           'make_synthetic_depth_sequences', 'SeededSampler']
