"""Optimizer wrapper constructor with layer-wise lr decay for fine-tuning and
probing (paper, Table 15: decay 0.75 for ViT-B, 0.85 for ViT-L)."""
from numbers import Real
from typing import Callable, Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmivnext.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build an optimizer of the trainable parameters, grouped by layer depth.

    Config::

        optim_wrapper = dict(
            constructor='mmivnext.LayerDecayOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            paramwise_cfg=dict(layer_decay_rate=0.75))

    **Frozen parameters** (``requires_grad=False``, e.g. a probe's backbone)
    are left out of the optimizer. The number of optimized and of frozen
    parameters is logged.

    **Layer-wise lr decay** (mmpretrain's convention). The depths come from a
    ``get_layer_depth(param_name, prefix)`` method returning ``(depth,
    num_depths)``, looked up on ``model.backbone`` (mmaction2 recognizers,
    mmivnext algorithms; called with ``prefix='backbone.'``), else on the model
    itself (called with the full name only). A parameter's lr is::

        lr * layer_decay_rate ** (num_depths - 1 - depth)

    For :class:`~mmivnext.models.VisionTransformer3D` with ``L`` blocks
    (``num_depths = L + 2``): patch embedding, cls tokens and position
    embedding (depth 0) get ``rate ** (L + 1)``, block ``i`` (depth ``i + 1``)
    gets ``rate ** (L - i)``, and the final norm, projector and everything
    outside the backbone (the head) get scale 1. ``layer_decay_rate=1.0`` (the
    default) means no decay, and then no ``get_layer_depth`` is needed.

    **Weight decay** is the optimizer's ``weight_decay``, except for 1-D
    parameters (norms, biases, layer scales), ``pos_embed``, ``cls_token``,
    ``mask_token`` and the names in ``no_decay_names``, which get 0.

    Parameters are put in one group per (depth, decay or not), ordered by
    depth then decay first. Besides ``params``, ``lr`` and ``weight_decay``, a
    group has ``layer_depth``, ``lr_scale`` and ``param_names`` (the key torch
    optimizers use to name parameters in their state dict).

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, with the
            ``optimizer`` config (``lr`` is required).
        paramwise_cfg (dict, optional): Only these keys are accepted (others
            raise a ``ValueError``: MMEngine's ``custom_keys``,
            ``bias_decay_mult``... are not supported):

            - ``layer_decay_rate`` (float): Decay rate in ``(0, 1]``.
              Defaults to 1.0.
            - ``no_decay_names`` (list[str]): More names without weight decay,
              on top of the defaults. A name matches a parameter if it is its
              full name or the end of it after a dot (``'gamma'`` matches
              ``'backbone.blocks.0.ls1.gamma'``). Defaults to ``[]``.
    """

    PARAMWISE_KEYS = ('layer_decay_rate', 'no_decay_names')
    NO_DECAY_NAMES = ('pos_embed', 'cls_token', 'mask_token')

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if self.base_lr is None:
            raise ValueError('LayerDecayOptimWrapperConstructor: the optimizer '
                             'config must set `lr`.')
        # A non-empty copy (the caller's dict is not changed), so that the
        # parent's __call__ always goes through `add_params`: without a
        # paramwise_cfg it would pass model.parameters(), frozen ones too.
        self.paramwise_cfg = dict(
            layer_decay_rate=float(
                self.paramwise_cfg.get('layer_decay_rate', 1.0)),
            no_decay_names=tuple(self.paramwise_cfg.get('no_decay_names',
                                                        ())))

    def _validate_cfg(self) -> None:
        """Check ``paramwise_cfg``; called by the parent's ``__init__``."""
        cfg = self.paramwise_cfg
        if not isinstance(cfg, dict):
            raise TypeError(f'paramwise_cfg must be None or a dict, got '
                            f'{type(cfg)}.')
        unknown = sorted(set(cfg) - set(self.PARAMWISE_KEYS))
        if unknown:
            raise ValueError(
                f'LayerDecayOptimWrapperConstructor: unsupported paramwise_cfg '
                f'keys {unknown}; supported: {list(self.PARAMWISE_KEYS)}.')
        rate = cfg.get('layer_decay_rate', 1.0)
        if isinstance(rate, bool) or not isinstance(rate, Real) \
                or not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be a number in (0, 1], '
                             f'got {rate!r}.')
        names = cfg.get('no_decay_names', ())
        if isinstance(names, str) or not isinstance(names, (list, tuple)) \
                or not all(isinstance(n, str) and n for n in names):
            raise TypeError(f'no_decay_names must be a list of non-empty '
                            f'strings, got {names!r}.')

    def _depth_fn(self, model: nn.Module) -> Optional[Callable]:
        """``param_name -> (depth, num_depths)``, or None without decay."""
        if self.paramwise_cfg['layer_decay_rate'] == 1.0:
            return None
        backbone = getattr(model, 'backbone', None)
        if hasattr(backbone, 'get_layer_depth'):
            return lambda name: backbone.get_layer_depth(name, 'backbone.')
        if hasattr(model, 'get_layer_depth'):
            return model.get_layer_depth
        raise NotImplementedError(
            f'layer_decay_rate={self.paramwise_cfg["layer_decay_rate"]} '
            f'needs a `get_layer_depth` method on `model.backbone` or on the '
            f'model, and {type(model).__name__} has neither.')

    def _decays(self, name: str, param: nn.Parameter) -> bool:
        if param.ndim <= 1:
            return False
        for key in self.NO_DECAY_NAMES + self.paramwise_cfg['no_decay_names']:
            if name == key or name.endswith('.' + key):
                return False
        return True

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        """Append the param groups of ``module`` (the whole model, already
        unwrapped from DDP by the parent's ``__call__``) to ``params``."""
        rate = self.paramwise_cfg['layer_decay_rate']
        depth_fn = self._depth_fn(module)
        groups: Dict[Tuple[int, bool], dict] = {}
        num_trained = num_frozen = 0
        for name, param in module.named_parameters():
            if not param.requires_grad:
                num_frozen += param.numel()
                continue
            num_trained += param.numel()
            depth, num_depths = depth_fn(name) if depth_fn else (0, 1)
            decay = self._decays(name, param)
            if (depth, decay) not in groups:
                scale = rate**(num_depths - 1 - depth)
                group = dict(params=[], param_names=[], lr=self.base_lr * scale,
                             lr_scale=scale, layer_depth=depth)
                if self.base_wd is not None:
                    group['weight_decay'] = self.base_wd if decay else 0.
                groups[depth, decay] = group
            groups[depth, decay]['params'].append(param)
            groups[depth, decay]['param_names'].append(name)
        if not groups:
            raise ValueError(f'{type(module).__name__} has no parameter with '
                             f'requires_grad=True to optimize.')
        # Depth order, decayed group first.
        ordered = [groups[key] for key in
                   sorted(groups, key=lambda k: (k[0], not k[1]))]
        params.extend(ordered)
        lines = [f'Optimizing {num_trained / 1e6:.4g}M parameters in '
                 f'{len(ordered)} groups; {num_frozen / 1e6:.4g}M frozen '
                 f'parameters are not optimized.']
        for group in ordered:
            lines.append(
                f'  depth {group["layer_depth"]}: lr={group["lr"]:.4g} '
                f'(x{group["lr_scale"]:.4g}), weight_decay='
                f'{group.get("weight_decay", "default")}, '
                f'{len(group["params"])} tensors')
        print_log('\n'.join(lines), logger='current')
