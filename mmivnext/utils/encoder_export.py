"""The exported-encoder format shared by the export tool and the converters.

An exported encoder is a ``.safetensors`` file of ``VisionTransformer3D``
weights plus a JSON of its keyword arguments (``OUT.json`` beside
``OUT.safetensors``, :func:`~mmivnext.utils.encoder_loading.
exported_json_path`), written by ``tools/model_converters/export_encoder.py``
and by every ``<source>_to_mmivnext.py`` converter
(:func:`write_exported_encoder`), and read by
``VisionTransformer3D(**json, init_cfg=dict(type='Pretrained', ...))``,
``FrozenVideoTeacher`` (``prefix=''``) and ``tools/extract_features.py``
through :mod:`mmivnext.utils.encoder_loading`.

No architecture is ever read from checkpoint *text*: a checkpoint records its
encoder as data, ``meta['encoder_architecture']``
(:data:`ARCHITECTURE_META_KEY`, the :func:`encoder_architecture` of its
``model.backbone``), checked by :func:`recorded_architecture`; config text a
checkpoint may hold (``meta['cfg']``) is never run. Otherwise the
architecture comes from a config file the user names
(:func:`config_backbone`).
"""
import inspect
import json
import os.path as osp
from typing import Any, Mapping, Optional

import torch
from mmengine.config import Config
from safetensors.torch import save as safetensors_bytes

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.utils.checkpoint_io import atomic_write_bytes, atomic_write_text
from mmivnext.utils.encoder_loading import exported_json_path

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
#: Entry of a checkpoint's ``meta`` that records its encoder's architecture
#: as plain data (:func:`encoder_architecture` of ``model.backbone``).
ARCHITECTURE_META_KEY = 'encoder_architecture'


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


def exit_error(path: str, err: BaseException) -> SystemExit:
    """The one-line ``error: <path>: <reason>`` a CLI exits with for a
    failure about the file ``path`` (e.g. a
    :class:`~mmivnext.utils.checkpoint_io.CheckpointLoadError`); ``path``
    is not repeated when the message already starts with it."""
    message = str(err)
    if not message.startswith(f'{path}:'):
        message = f'{path}: {message}'
    return SystemExit(f'error: {message}')


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


def config_backbone(config: str) -> dict:
    """``model.backbone`` of the config file ``config`` (module docstring).

    Raises:
        ValueError: The config has no ``model.backbone``.
    """
    backbone = Config.fromfile(config).get('model', {}).get('backbone')
    if backbone is None:
        raise ValueError(f'{config} has no model.backbone')
    return backbone.to_dict() if hasattr(backbone, 'to_dict') else \
        dict(backbone)


def _not_plain(value: Any, where: str) -> Optional[str]:
    """The first part of ``value`` that is not JSON-like data (dicts with
    string keys, lists, tuples, strings, numbers, booleans, None), as
    ``'<where>[key]...: <type>'``; None if it is all plain."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _not_plain(item, f'{where}[{i}]')
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f'{where}: a key of type {type(key).__name__}'
            found = _not_plain(item, f'{where}[{key!r}]')
            if found:
                return found
        return None
    return f'{where}: a {type(value).__module__}.{type(value).__name__}'


def recorded_architecture(checkpoint: Mapping,
                          path: str) -> Optional[dict]:
    """The encoder architecture a checkpoint records as data, checked.

    Reads ``checkpoint['meta'][ARCHITECTURE_META_KEY]`` (module docstring).
    Nothing is run: the record must be a dict of plain data (JSON-like)
    whose keys are ``VisionTransformer3D`` arguments that
    :meth:`VisionTransformer3D.structural_args` accepts.

    Args:
        checkpoint (Mapping): A loaded checkpoint (``{'meta', ...}``).
        path (str): Its file, for the messages.

    Returns:
        dict | None: The architecture, normalised by
        :func:`encoder_architecture`; None if the checkpoint records none.

    Raises:
        ValueError: The record is not a dict of plain data of
            ``VisionTransformer3D`` arguments; names the file and the key.
    """
    meta = checkpoint.get('meta')
    if not isinstance(meta, Mapping) or ARCHITECTURE_META_KEY not in meta:
        return None
    record = meta[ARCHITECTURE_META_KEY]
    where = f"{path}: meta['{ARCHITECTURE_META_KEY}']"
    if not isinstance(record, dict):
        raise ValueError(f'{where} is a {type(record).__name__}, not a dict '
                         'of VisionTransformer3D arguments')
    found = _not_plain(record, f"meta['{ARCHITECTURE_META_KEY}']")
    if found:
        raise ValueError(f'{path}: {found}, not plain data (dicts, lists, '
                         'strings, numbers)')
    params = set(inspect.signature(VisionTransformer3D.__init__).parameters)
    unknown = sorted(set(record) - (params - {'self', *DROPPED_KEYS}))
    if unknown:
        raise ValueError(f'{where} has keys that are not VisionTransformer3D '
                         f'arguments: {unknown}')
    try:
        VisionTransformer3D.structural_args(record)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f'{where} is not a valid VisionTransformer3D '
                         f'architecture: {err}') from err
    return encoder_architecture(record)


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
    architecture JSON next to it (``*.json``), each atomically
    (:func:`~mmivnext.utils.checkpoint_io.atomic_write`: complete or
    absent). Returns the JSON path."""
    if not out.endswith('.safetensors'):
        raise ValueError(f'{out}: the output must be a *.safetensors file')
    check_fits(arch, state_dict)
    json_path = exported_json_path(out)
    atomic_write_bytes(safetensors_bytes(
        dict(state_dict), metadata=dict(format='pt', **(metadata or {}))),
        out)
    atomic_write_text(json.dumps(arch, indent=2, sort_keys=True), json_path)
    return json_path
