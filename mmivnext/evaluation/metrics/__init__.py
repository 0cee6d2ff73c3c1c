"""Metrics of the dense and temporal probes and of the multimodal projects."""
from .depth_metric import DepthMetric
from .multiple_choice import MultipleChoiceAccuracy
from .recall_at_k import ClassMeanRecallAtK
from .tracking_metric import BoxTrackingMetric
from .video_text_retrieval import VideoTextRetrievalMetric

__all__ = ['ClassMeanRecallAtK', 'DepthMetric', 'BoxTrackingMetric',
           'MultipleChoiceAccuracy', 'VideoTextRetrievalMetric']
