"""Metrics of the dense and temporal probes."""
from .depth_metric import DepthMetric
from .recall_at_k import ClassMeanRecallAtK
from .tracking_metric import BoxTrackingMetric

__all__ = ['ClassMeanRecallAtK', 'DepthMetric', 'BoxTrackingMetric']
