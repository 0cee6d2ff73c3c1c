"""Registries of the LiT project: children of mmivnext's, scope
``'lit_retrieval'``.

A config loads the project with ``custom_imports`` and names its classes with
the scope, ``type='lit_retrieval.LiTVideoTextModel'``; core classes keep
theirs (``'mmivnext.VisionTransformer3D'``, ``'mmaction.DecordInit'``).
"""
from mmengine.registry import Registry

from mmivnext.registry import DATASETS as MMIVNEXT_DATASETS
from mmivnext.registry import MODELS as MMIVNEXT_MODELS

SCOPE = 'lit_retrieval'

MODELS = Registry('model', parent=MMIVNEXT_MODELS, scope=SCOPE,
                  locations=['projects.lit_retrieval.lit_retrieval'])
DATASETS = Registry('dataset', parent=MMIVNEXT_DATASETS, scope=SCOPE,
                    locations=['projects.lit_retrieval.lit_retrieval'])
