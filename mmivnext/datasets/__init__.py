"""Video datasets: the unlabeled-video list dataset and the synthetic demo set."""
from .demo_videos import DEMO_CLASSES, make_demo_videos, render_demo_clip
from .transforms import *  # noqa: F401,F403
from .video_dataset import UnlabeledVideoDataset, VideoReadError

__all__ = ['UnlabeledVideoDataset', 'VideoReadError', 'DEMO_CLASSES',
           'make_demo_videos', 'render_demo_clip']
