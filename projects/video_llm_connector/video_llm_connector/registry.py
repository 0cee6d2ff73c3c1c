"""Registries of the video-LLM connector project: children of mmivnext's,
scope ``'video_llm_connector'``.

A config loads the project with ``custom_imports`` and names its classes
with the scope, ``type='video_llm_connector.VideoLLMConnectorModel'``; core
classes keep theirs (``'mmivnext.VisionTransformer3D'``,
``'mmaction.DecordInit'``).
"""
from mmengine.registry import Registry

from mmivnext.registry import DATASETS as MMIVNEXT_DATASETS
from mmivnext.registry import MODELS as MMIVNEXT_MODELS

SCOPE = 'video_llm_connector'
_LOCATIONS = ['projects.video_llm_connector.video_llm_connector']

MODELS = Registry('model', parent=MMIVNEXT_MODELS, scope=SCOPE,
                  locations=_LOCATIONS)
DATASETS = Registry('dataset', parent=MMIVNEXT_DATASETS, scope=SCOPE,
                    locations=_LOCATIONS)
