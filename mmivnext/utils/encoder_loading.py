"""Loading pretrained weights into a ``VisionTransformer3D``: strictly, and
checked against an exported encoder's architecture JSON.

The counterpart of :mod:`mmivnext.utils.encoder_export` (the format). This
module takes the encoder as an argument and imports nothing from
:mod:`mmivnext.models`, so the encoder can use it without an import circle.
"""
import json
import os.path as osp
from typing import Mapping, Optional, Union

from mmengine.logging import print_log
from torch import nn

from .checkpoint_io import load_checkpoint_file


def exported_json_path(weights: str) -> Optional[str]:
    """The architecture JSON path of exported weights ``X.safetensors``
    (``X.json``); None for other files (no JSON belongs to them)."""
    if not isinstance(weights, str) or not weights.endswith('.safetensors'):
        return None
    return weights[:-len('.safetensors')] + '.json'


def check_exported_architecture(encoder: nn.Module, filename: str) -> None:
    """Compare ``encoder`` with the architecture JSON of an exported encoder,
    if there is one (:func:`exported_json_path`).

    Called by :func:`load_pretrained` and by loaders that load the weights
    themselves (``FrozenVideoTeacher``). Strict loading catches weights of
    other names or shapes, but not options that change no shape (head count,
    norm types and eps, QK norm across heads, position embedding type...):
    those are compared here through ``VisionTransformer3D.structural_args``.

    Args:
        encoder (nn.Module): A ``VisionTransformer3D``.
        filename (str): The weights file.

    Raises:
        ValueError: They differ; names the JSON and every differing
            argument with both values.
    """
    json_path = exported_json_path(filename)
    if json_path is None or not osp.isfile(json_path):
        return
    with open(json_path) as f:
        exported = encoder.structural_args(json.load(f))
    diffs = [f'{k}: {exported.get(k)!r} (weights) vs '
             f'{encoder.structure.get(k)!r} (this encoder)'
             for k in sorted(exported.keys() | encoder.structure.keys())
             if exported.get(k) != encoder.structure.get(k)]
    if diffs:
        raise ValueError(
            f'VisionTransformer3D: {filename} was exported with the '
            f'architecture in {json_path}, which differs from this '
            "encoder's: " + '; '.join(diffs) + '. Build the encoder with '
            "the JSON's arguments (sizes may differ).")


def pretrained_init_cfg(
        init_cfg: Union[dict, list, None]) -> Optional[dict]:
    """The first ``type='Pretrained'`` entry of an MMEngine ``init_cfg`` (a
    dict or a list of dicts); None if there is none."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            return cfg
    return None


def load_pretrained(encoder: nn.Module, cfg: dict) -> None:
    """Load a ``Pretrained`` init_cfg's checkpoint into ``encoder`` strictly.

    The architecture JSON of an exported encoder is checked first
    (:func:`check_exported_architecture`). The file (a local path or an
    http(s) URL) is read by
    :func:`~mmivnext.utils.checkpoint_io.load_checkpoint_file` (weights
    only). A checkpoint's ``state_dict`` entry is used if it has one, then
    only the keys under ``cfg['prefix']`` (if given; a missing trailing dot
    is added, as MMEngine does), stripped of it. The encoder is marked
    initialised. Every error names the file.

    Args:
        encoder (nn.Module): A ``VisionTransformer3D``.
        cfg (dict): The ``Pretrained`` init_cfg: ``checkpoint``, optional
            ``prefix``.

    Raises:
        FileNotFoundError: No such file.
        CheckpointLoadError: The file cannot be read safely.
        TypeError: The file holds no state dict.
        KeyError: No weights have the prefix.
        RuntimeError: A missing or unexpected weight, or one of another
            shape; names the keys.
        ValueError: The exported architecture differs.
    """
    filename, prefix = cfg['checkpoint'], cfg.get('prefix')
    check_exported_architecture(encoder, filename)
    state = load_checkpoint_file(filename)
    if isinstance(state, Mapping) and 'state_dict' in state:
        state = state['state_dict']
    if not isinstance(state, Mapping):
        raise TypeError(f'VisionTransformer3D: {filename} holds a '
                        f'{type(state).__name__}, not a state dict')
    if prefix:
        if not prefix.endswith('.'):  # as MMEngine's prefix loading
            prefix += '.'
        found = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
        if not found:
            prefixes = sorted({k.split('.')[0] + '.' for k in state})
            raise KeyError(f'VisionTransformer3D: {filename} has no '
                           f'weights with the prefix {prefix!r}; its '
                           f'keys start with {prefixes}')
        state = found
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(
            f'VisionTransformer3D: {filename} (prefix {prefix!r}) does '
            f'not fit this encoder: {err}') from err
    encoder._is_init = True
    print_log(f'VisionTransformer3D: loaded {filename} '
              f'({len(state)} tensors, strict).', logger='current')
