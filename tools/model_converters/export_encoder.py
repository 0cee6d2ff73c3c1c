"""Export the encoder of a checkpoint: safetensors weights + architecture JSON.

::

    python tools/model_converters/export_encoder.py CHECKPOINT OUT.safetensors \\
        [--config CONFIG] [--prefix backbone.]

writes ``OUT.safetensors`` (the encoder's weights, names without ``prefix``)
and ``OUT.json`` (the ``VisionTransformer3D`` keyword arguments that rebuild
it), so that::

    arch = json.load(open('OUT.json'))
    encoder = VisionTransformer3D(**arch, init_cfg=dict(
        type='Pretrained', checkpoint='OUT.safetensors'))
    encoder.init_weights()

gives the encoder back: once ``mmivnext`` is imported, MMEngine reads local
``.safetensors`` files with ``safetensors`` on every torch version (see
:mod:`mmivnext.utils.compat`). The same file is a ``FrozenVideoTeacher``
checkpoint with ``prefix=''``.

The architecture is the checkpoint's ``model.backbone``, read from its
``meta['cfg']`` (the config text MMEngine's runner saves; ``stage1_to_stage2``
outputs keep it), or from ``--config``. Only what defines the encoder is
kept: ``type`` and ``init_cfg`` are dropped, and the training-only options
and output choices are reset to their neutral values (:data:`RESET_OPTIONS`:
no dropout or drop path, no activation checkpointing, nothing frozen, the
last layer's raw tokens); users pass their own on top. Before writing, the
weights are checked to fit the architecture (names and shapes).
"""
import argparse
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Mapping, Optional

import mmivnext  # noqa: F401  (lets weights-only loading read numpy in meta)
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


def convert(state_dict: Mapping, prefix: str = 'backbone.') -> 'OrderedDict':
    """The encoder's weights of a model's state dict, ``prefix`` removed.

    Args:
        state_dict (Mapping): Model weights (``backbone.*``, heads...).
        prefix (str): Prefix of the encoder's keys. Defaults to
            ``'backbone.'``.

    Returns:
        OrderedDict: ``{name: tensor}`` with names as in
        ``VisionTransformer3D.state_dict()``, tensors contiguous.

    Raises:
        ValueError: No key starts with ``prefix``.
    """
    encoder = OrderedDict((k[len(prefix):], v.contiguous())
                          for k, v in state_dict.items()
                          if k.startswith(prefix))
    if not encoder:
        prefixes = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'no weights with the prefix {prefix!r}; the keys '
                         f'start with {prefixes}')
    return encoder


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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export the encoder of a checkpoint as safetensors plus '
        'a JSON of its VisionTransformer3D arguments.')
    parser.add_argument('checkpoint', help='runner or stage1_to_stage2 '
                        'checkpoint (.pth)')
    parser.add_argument('out', help='output weights, *.safetensors; the JSON '
                        'is written next to it as *.json')
    parser.add_argument('--config', help="config whose model.backbone is the "
                        "encoder (default: the checkpoint's meta['cfg'])")
    parser.add_argument('--prefix', default='backbone.',
                        help="encoder key prefix (default: 'backbone.')")
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    if not args.out.endswith('.safetensors'):
        raise SystemExit(f'error: the output must end with .safetensors, got '
                         f'{args.out}')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: {args.checkpoint}: no such file')
    checkpoint = torch.load(args.checkpoint, map_location='cpu',
                            weights_only=True)
    try:
        state_dict = convert(checkpoint.get('state_dict', checkpoint),
                             args.prefix)
        arch = encoder_architecture(read_backbone_cfg(checkpoint, args.config))
        check_fits(arch, state_dict)
    except (ValueError, TypeError, KeyError) as err:
        raise SystemExit(f'error: {args.checkpoint}: {err}') from err

    json_path = args.out[:-len('.safetensors')] + '.json'
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    save_file(dict(state_dict), args.out,
              metadata=dict(format='pt', source=args.checkpoint))
    with open(json_path, 'w') as f:
        json.dump(arch, f, indent=2, sort_keys=True)
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}')
    return args.out, json_path


if __name__ == '__main__':
    main()
