"""Frozen-encoder probes beyond classification (paper Tables 6-8): video depth,
object tracking and action anticipation. Classification probes are mmaction2
``Recognizer3D`` models with :mod:`mmivnext.models.heads` probe heads."""

__all__ = []
