"""Normalisation layers built from config.

Two kinds are supported, chosen by ``type``:

* ``'LN'`` / ``'LayerNorm'``: :class:`torch.nn.LayerNorm` (keys ``eps``,
  ``elementwise_affine``, ``bias``);
* ``'RMSNorm'``: :class:`torch.nn.RMSNorm` (keys ``eps``, ``elementwise_affine``).

The lower-case names ``'layernorm'`` and ``'rmsnorm'`` are accepted as shorthands
for ``dict(type='LN', eps=1e-6)`` and ``dict(type='RMSNorm', eps=1e-6)``.
"""
from typing import Optional, Union

from torch import nn

NORM_LAYERS = {
    'LN': nn.LayerNorm,
    'LayerNorm': nn.LayerNorm,
    'RMSNorm': nn.RMSNorm,
}

NORM_ALIASES = {
    'layernorm': dict(type='LN', eps=1e-6),
    'rmsnorm': dict(type='RMSNorm', eps=1e-6),
}

NormCfg = Optional[Union[str, dict]]


def build_norm(cfg: NormCfg, num_features: int) -> nn.Module:
    """Build a normalisation layer over the last dimension.

    Args:
        cfg (str | dict | None): A dict with ``type`` (see the module docstring)
            and the layer's keyword arguments, a shorthand name from
            ``NORM_ALIASES``, or None for :class:`torch.nn.Identity`. The dict is
            not modified.
        num_features (int): Size of the normalised (last) dimension.

    Returns:
        nn.Module: The layer.
    """
    if cfg is None:
        return nn.Identity()
    if isinstance(cfg, str):
        if cfg not in NORM_ALIASES:
            raise ValueError(f'Unknown norm name {cfg!r}; use one of '
                             f'{sorted(NORM_ALIASES)} or a config dict.')
        cfg = NORM_ALIASES[cfg]
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'A norm config must be a dict with a "type" key, '
                         f'got {cfg!r}.')
    kwargs = dict(cfg)
    norm_type = kwargs.pop('type')
    if norm_type not in NORM_LAYERS:
        raise ValueError(f'Unknown norm type {norm_type!r}; supported: '
                         f'{sorted(NORM_LAYERS)}.')
    return NORM_LAYERS[norm_type](num_features, **kwargs)


def canonical_norm_cfg(cfg: NormCfg) -> Optional[dict]:
    """The layer :func:`build_norm` builds from ``cfg``, as a plain dict.

    Equal results mean equal layers: shorthand names are expanded,
    ``'LayerNorm'`` is written ``'LN'`` and the defaults of the layer's
    ``eps`` / ``elementwise_affine`` (and LayerNorm's ``bias``) are filled in.

    Args:
        cfg (str | dict | None): As for :func:`build_norm`.

    Returns:
        dict | None: ``dict(type, eps, elementwise_affine[, bias])`` plus any
        other keys of ``cfg``; None for None (the identity).
    """
    if cfg is None:
        return None
    if isinstance(cfg, str):
        if cfg not in NORM_ALIASES:
            raise ValueError(f'Unknown norm name {cfg!r}; use one of '
                             f'{sorted(NORM_ALIASES)} or a config dict.')
        cfg = NORM_ALIASES[cfg]
    out = dict(cfg)
    if out.get('type') == 'LayerNorm':
        out['type'] = 'LN'
    if out.get('type') not in NORM_LAYERS:
        raise ValueError(f'Unknown norm type {out.get("type")!r}; '
                         f'supported: {sorted(NORM_LAYERS)}.')
    # nn.LayerNorm: eps 1e-5, affine, bias; nn.RMSNorm: eps None (the
    # dtype's machine epsilon), affine.
    out.setdefault('eps', 1e-5 if out['type'] == 'LN' else None)
    out.setdefault('elementwise_affine', True)
    if out['type'] == 'LN':
        out.setdefault('bias', True)
    return out
