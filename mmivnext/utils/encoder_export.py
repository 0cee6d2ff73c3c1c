"""The exported-encoder format shared by the export tool and the converters.

An exported encoder is a ``.safetensors`` file of ``VisionTransformer3D``
weights plus a JSON of its keyword arguments (``OUT.json`` beside
``OUT.safetensors``), written by ``tools/model_converters/export_encoder.py``
and by every ``<source>_to_mmivnext.py`` converter, and read by
``VisionTransformer3D(**json, init_cfg=dict(type='Pretrained', ...))``,
``FrozenVideoTeacher`` (``prefix=''``) and ``tools/extract_features.py``.
"""
import json
import os
import os.path as osp
from typing import Mapping, Optional

import torch
from mmengine.config import Config
from safetensors.torch import save_file

from mmivnext.models.backbones import VisionTransformer3D

#: Options set to these values in the exported architecture.
RESET_OPTIONS = dict(
    drop_rate=0.,
    attn_drop_rate=0.,
    drop_path_rate=0.,
    with_cp=False,
    frozen_stages=-1,
    out_indices=-1,
    out_type='raw',
)
#: Config keys that are not ``VisionTransformer3D`` arguments of the weights.
DROPPED_KEYS = ('type', 'init_cfg')
BACKBONE_TYPES = ('VisionTransformer3D', 'mmivnext.VisionTransformer3D')


def encoder_architecture(backbone_cfg: Mapping) -> dict:
    """The ``VisionTransformer3D`` keyword arguments of a backbone config.

    Args:
        backbone_cfg (Mapping): ``model.backbone`` of a config.

    Returns:
        dict: JSON-ready keyword arguments: ``type`` and ``init_cfg`` dropped,
        :data:`RESET_OPTIONS` applied.

    Raises:
        ValueError: The backbone is not a ``VisionTransformer3D``.
    """
    cfg = json.loads(json.dumps(dict(backbone_cfg)))  # plain, deep copy
    if cfg.get('type', BACKBONE_TYPES[0]) not in BACKBONE_TYPES:
        raise ValueError(f'the backbone is a {cfg["type"]!r}, not a '
                         f'VisionTransformer3D')
    for key in DROPPED_KEYS:
        cfg.pop(key, None)
    cfg.update(RESET_OPTIONS)
    return cfg


def read_backbone_cfg(checkpoint: Mapping,
                      config: Optional[str] = None) -> dict:
    """``model.backbone`` of ``config`` (a file) or of the checkpoint's
    ``meta['cfg']`` (config text). Raises ValueError if neither has one."""
    if config is not None:
        cfg = Config.fromfile(config)
        where = config
    else:
        cfg_text = (checkpoint.get('meta') or {}).get('cfg')
        if not cfg_text:
            raise ValueError("it has no meta['cfg'] (config text); give the "
                             'config with --config')
        cfg = Config.fromstring(cfg_text, '.py')
        where = "its meta['cfg']"
    backbone = cfg.get('model', {}).get('backbone')
    if backbone is None:
        raise ValueError(f'{where} has no model.backbone')
    return backbone.to_dict() if hasattr(backbone, 'to_dict') else \
        dict(backbone)


def check_fits(arch: dict, state_dict: Mapping) -> None:
    """Raise ValueError unless ``state_dict`` has exactly the names and
    shapes of ``VisionTransformer3D(**arch)`` (built on the meta device)."""
    with torch.device('meta'):
        expected = {k: tuple(v.shape)
                    for k, v in VisionTransformer3D(**arch).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    shapes = [f'{k}: {found[k]} vs {expected[k]}' for k in sorted(
        expected.keys() & found.keys()) if found[k] != expected[k]]
    if missing or unexpected or shapes:
        raise ValueError(f'the weights do not fit the architecture: missing '
                         f'{missing}, unexpected {unexpected}, shapes (found '
                         f'vs expected) {shapes}')


def write_exported_encoder(state_dict: Mapping, arch: dict, out: str,
                           metadata: Optional[Mapping] = None) -> str:
    """Check that ``state_dict`` fits ``arch`` (:func:`check_fits`), then
    write ``out`` (``*.safetensors``, with ``metadata``) and the
    architecture JSON next to it (``*.json``). Returns the JSON path."""
    if not out.endswith('.safetensors'):
        raise ValueError(f'{out}: the output must be a *.safetensors file')
    check_fits(arch, state_dict)
    json_path = out[:-len('.safetensors')] + '.json'
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    save_file(dict(state_dict), out,
              metadata=dict(format='pt', **(metadata or {})))
    with open(json_path, 'w') as f:
        json.dump(arch, f, indent=2, sort_keys=True)
    return json_path
