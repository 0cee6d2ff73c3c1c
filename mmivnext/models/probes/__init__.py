"""Frozen-encoder probes beyond classification (paper Tables 6-8): video depth,
object tracking and action anticipation. Classification probes are mmaction2
``Recognizer3D`` models with :mod:`mmivnext.models.heads` probe heads."""
from .anticipation_probe import ActionAnticipationProbe
from .depth_probe import DepthProbe
from .tracking_probe import BoxTrackingProbe

__all__ = ['ActionAnticipationProbe', 'DepthProbe', 'BoxTrackingProbe']
