"""High-level APIs: encoder embeddings of videos (the library of
``tools/extract_features.py``) and probe sweeps on cached features (the
library of ``tools/probe_sweep.py``).

:mod:`.feature_extraction` lists videos, builds the preprocessing and the
encoder and runs the extraction; :mod:`.feature_files` writes and checks the
output files, the manifest and the settings; :mod:`.probe_sweep` caches an
encoder's features once and trains probe heads for a grid of learning rates
and seeds on them.
"""
from .feature_extraction import (IMAGENET_MEAN, IMAGENET_STD, POOL_CHOICES,
                                 VIDEO_EXTS, ClipDataset, WindowClipDataset,
                                 build_pipeline, encode, extract_features,
                                 is_windowed, list_videos,
                                 load_config_encoder, load_exported_encoder,
                                 load_image_encoder, pipeline_cfg,
                                 scan_folder)
from .feature_files import (FEATURE_KEYS, FORMATS, MANIFEST, SETTINGS,
                            WINDOW_KEYS, check_settings, check_unique_stems,
                            is_done, merge_manifests, output_files,
                            output_keys, output_problem, output_stem,
                            parse_shard, pending_videos, read_manifest,
                            read_manifests, save_outputs, shard_manifest,
                            shard_manifests, shard_videos)

__all__ = [
    'VIDEO_EXTS', 'IMAGENET_MEAN', 'IMAGENET_STD', 'POOL_CHOICES',
    'scan_folder', 'list_videos', 'pipeline_cfg', 'build_pipeline',
    'ClipDataset', 'WindowClipDataset', 'is_windowed',
    'load_exported_encoder', 'load_config_encoder',
    'load_image_encoder', 'encode', 'extract_features', 'FORMATS', 'MANIFEST',
    'SETTINGS', 'output_keys', 'output_stem', 'check_unique_stems',
    'output_files', 'save_outputs', 'output_problem', 'read_manifest',
    'is_done', 'pending_videos', 'check_settings', 'FEATURE_KEYS',
    'WINDOW_KEYS', 'parse_shard', 'shard_videos', 'shard_manifest',
    'shard_manifests', 'read_manifests', 'merge_manifests'
]
