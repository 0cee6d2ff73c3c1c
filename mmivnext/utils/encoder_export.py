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
from safetensors.torch import load_file, save_file

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


def add_input_output_args(parser, source_help: str,
                          source_name: str = 'src') -> None:
    """The positional arguments of an exporting CLI: the source file
    (``source_name``, described by ``source_help``) and ``out``."""
    parser.add_argument(source_name, help=source_help)
    parser.add_argument('out', help='output weights, *.safetensors; the '
                        'architecture JSON is written next to it as *.json')


def check_input_output(source: str, out: str) -> None:
    """Exit with an error naming the path unless ``source`` is a file and
    ``out`` a ``*.safetensors`` path (before any work is done)."""
    if exported_json_path(out) is None:
        raise SystemExit(f'error: the output must end with .safetensors, got '
                         f'{out}')
    if not osp.isfile(source):
        raise SystemExit(f'error: {source}: no such file')


def read_source_weights(path: str) -> Mapping:
    """A released checkpoint as it is stored: ``.safetensors``, or a torch
    file read with ``weights_only=True`` (no pickled code runs).

    Raises:
        ValueError: The file holds no dict (e.g. a pickled model object).
    """
    if path.endswith('.safetensors'):
        return load_file(path)
    state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f'{path}: holds a {type(state).__name__}, not a '
                         f'checkpoint dict')
    return state


def block_architecture(state_dict: Mapping, heads_by_width: Mapping,
                       num_heads: Optional[int] = None) -> dict:
    """The ``arch`` of converted ViT weights: width, depth, heads, MLP size.

    Args:
        state_dict (Mapping): ``VisionTransformer3D`` weights (after a
            converter's renaming): ``patch_embed.proj.weight [C, ...]``,
            ``blocks.i.*``, ``blocks.0.mlp.fc1.weight [F, C]``.
        heads_by_width (Mapping): The source's head count of each released
            width (weights do not determine heads).
        num_heads (int, optional): The head count, overriding
            ``heads_by_width``. Defaults to None.

    Returns:
        dict: ``embed_dims``, ``num_layers``, ``num_heads``,
        ``feedforward_channels`` (plain ints).

    Raises:
        ValueError: No ``num_heads`` and the width is not in
            ``heads_by_width``, or the block indices have a gap.
    """
    embed_dims = int(state_dict['patch_embed.proj.weight'].shape[0])
    if num_heads is None:
        if embed_dims not in heads_by_width:
            raise ValueError(f'no known number of heads for width '
                             f'{embed_dims}; give num_heads (--num-heads)')
        num_heads = heads_by_width[embed_dims]
    blocks = sorted({int(k.split('.')[1]) for k in state_dict
                     if k.startswith('blocks.')})
    if blocks != list(range(len(blocks))):
        raise ValueError(f'block indices {blocks} are not 0..{len(blocks) - 1}')
    return dict(embed_dims=embed_dims, num_layers=len(blocks),
                num_heads=int(num_heads),
                feedforward_channels=int(
                    state_dict['blocks.0.mlp.fc1.weight'].shape[0]))


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


def exported_json_path(weights: str) -> Optional[str]:
    """The architecture JSON path of exported weights ``X.safetensors``
    (``X.json``); None for other files (no JSON belongs to them)."""
    if not isinstance(weights, str) or not weights.endswith('.safetensors'):
        return None
    return weights[:-len('.safetensors')] + '.json'


def write_exported_encoder(state_dict: Mapping, arch: dict, out: str,
                           metadata: Optional[Mapping] = None) -> str:
    """Check that ``state_dict`` fits ``arch`` (:func:`check_fits`), then
    write ``out`` (``*.safetensors``, with ``metadata``) and the
    architecture JSON next to it (``*.json``). Returns the JSON path."""
    if not out.endswith('.safetensors'):
        raise ValueError(f'{out}: the output must be a *.safetensors file')
    check_fits(arch, state_dict)
    json_path = exported_json_path(out)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    save_file(dict(state_dict), out,
              metadata=dict(format='pt', **(metadata or {})))
    with open(json_path, 'w') as f:
        json.dump(arch, f, indent=2, sort_keys=True)
    return json_path
