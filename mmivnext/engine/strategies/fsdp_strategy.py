"""FSDP training of mmivnext models with MMEngine's ``FlexibleRunner``, on GPUs
and on CPUs."""
import copy
import functools
import os
from typing import Iterable, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from mmengine._strategy.fsdp import FSDPStrategy
from mmengine.device import get_device
from mmengine.model import BaseDataPreprocessor, is_model_wrapper
from mmengine.optim import BaseOptimWrapper, OptimWrapperDict
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel
from torch.distributed.fsdp.wrap import ModuleWrapPolicy

from mmivnext.registry import MODEL_WRAPPERS, STRATEGIES
from mmivnext.utils.compat import init_cpu_process_group

#: Optim wrapper types that take ``use_fsdp`` (the sharded grad scaler).
AMP_OPTIM_WRAPPERS = ('AmpOptimWrapper', 'AnyDeviceAmpOptimWrapper',
                      'mmivnext.AnyDeviceAmpOptimWrapper')


def classes_named(model: nn.Module, names: Sequence[str],
                  arg_name: str) -> Tuple[type, ...]:
    """The classes of ``model``'s modules whose class name is in ``names``.

    Args:
        model (nn.Module): The model to search (its module tree).
        names (Sequence[str]): Class names, e.g. ``('TransformerEncoderLayer',
            'ModernBertLayer')``.
        arg_name (str): The argument ``names`` came from, for the error.

    Returns:
        tuple[type]: The matching classes.

    Raises:
        TypeError: ``names`` is a string or holds a non-string.
        ValueError: A name matches no module of the model (a typo would
            otherwise silently leave the modules unwrapped).
    """
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f'{arg_name} must be a sequence of class names, got '
                        f'{names!r}')
    found = {}
    for module in model.modules():
        found.setdefault(type(module).__name__, type(module))
    missing = [n for n in names if n not in found]
    if missing:
        candidates = sorted(n for n in found
                            if 'Layer' in n or 'Block' in n)
        raise ValueError(
            f'{arg_name}: no module of {type(model).__name__} has the class '
            f'name {missing}; classes with "Layer" or "Block" in their name: '
            f'{candidates}.')
    return tuple(found[n] for n in names)


def _frozen_teachers(model: nn.Module) -> list:
    """The :class:`~mmivnext.models.teachers.BaseFrozenTeacher` modules in
    ``model``'s tree."""
    from mmivnext.models.teachers import BaseFrozenTeacher
    return [m for m in model.modules() if isinstance(m, BaseFrozenTeacher)]


def move_frozen_teachers(model: nn.Module, device: torch.device) -> int:
    """Move the frozen teachers in ``model``'s tree, with the models they hold
    outside it, to ``device``.

    FSDP moves the parameters and buffers of the module tree only, so the
    models a :class:`~mmivnext.models.teachers.BaseFrozenTeacher` holds as
    plain attributes stay where they were built; ``teacher.to()`` moves them
    (``BaseFrozenTeacher._apply``).

    Returns:
        int: How many teachers were moved.
    """
    teachers = _frozen_teachers(model)
    for teacher in teachers:
        teacher.to(device)
    return len(teachers)


def _sharded_clip_grad_norm(root: FullyShardedDataParallel,
                            parameters: Iterable[torch.Tensor],
                            max_norm: float,
                            norm_type: float = 2.0) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_``'s signature, clipping with the norm
    over every rank's shards (``root.clip_grad_norm_``).

    ``parameters`` (this rank's shards, passed by the optim wrapper) is not
    used: the root FSDP module clips every gradient it manages, which are
    those of the optimizer (frozen parameters have none).
    """
    return root.clip_grad_norm_(max_norm, norm_type)


@STRATEGIES.register_module()
class AnyDeviceFSDPStrategy(FSDPStrategy):
    """MMEngine's ``FSDPStrategy`` made right for mmivnext models, on GPUs and
    on CPUs.

    Config (see ``configs/ivnext/scale_out/`` and ``docs/scale_out.md``)::

        runner_type = 'FlexibleRunner'
        strategy = dict(
            type='mmivnext.AnyDeviceFSDPStrategy',
            wrap_modules=('TransformerEncoderLayer', 'ModernBertLayer'),
            checkpoint_modules=None,  # or the same names
            model_wrapper=dict(
                mixed_precision=dict(param_dtype='bfloat16',
                                     reduce_dtype='float32')),
            state_dict_cfg='full')

    What changes from MMEngine 0.10's ``FSDPStrategy``, and why:

    * **Frozen teachers follow the model.** FSDP moves only the parameters
      and buffers of the module tree to its device; mmivnext's frozen teachers
      hold their models outside the tree
      (:class:`~mmivnext.models.teachers.BaseFrozenTeacher`), so MMEngine's
      strategy leaves them on the CPU while the student runs on the GPU. They
      are moved to the compute device before wrapping. FSDP never sees them:
      they are not sharded, not cast by ``mixed_precision``, not in the
      checkpoint, and each rank runs its full copy under ``no_grad``.
    * **Gradient-norm clipping over the whole model.** MMEngine's optim
      wrappers clip with ``torch.nn.utils.clip_grad_norm_`` over the
      parameters of this rank, which under FSDP are shards: each rank would
      clip its shard by the norm of that shard alone. The optim wrapper's clip
      function becomes the root FSDP module's ``clip_grad_norm_`` (the norm
      over all shards, one factor on every rank). ``clip_grad`` may only have
      ``max_norm`` and ``norm_type`` then; ``type='value'`` clipping is
      element-wise and unchanged.
    * **CPU (gloo).** Without CUDA, the process group is started with gloo
      (:func:`~mmivnext.utils.compat.init_cpu_process_group`; MMEngine's
      ``init_dist`` calls ``torch.cuda.set_device``) and FSDP's ``device_id``
      defaults to the CPU device: MMEngine passes ``LOCAL_RANK``, for which
      torch 2.13 raises ``RuntimeError: Cannot access accelerator device when
      none is available.`` (and with ``device_id=None``: ``FSDP needs a
      non-CPU accelerator device, but no accelerator device is detected.``).
      Full state dicts are not "offloaded" to the CPU there: with CPU compute,
      torch 2.13's ``offload_to_cpu`` frees the storage the state dict is then
      cloned from (a segmentation fault when saving a checkpoint).
    * **Wrapping and activation checkpointing by class name.** Each module
      whose class is named in ``wrap_modules`` becomes an FSDP unit (all
      parameters of one block are gathered together, layer by layer); each
      one named in ``checkpoint_modules`` recomputes its activations in the
      backward pass (torch's ``apply_activation_checkpointing``, inside the
      FSDP units, non-reentrant). A name that matches no module raises.
      MMEngine's own ``activation_checkpointing=dict(check_fn=dict(type=...,
      **args))`` drops ``args`` in 0.10.7, so it is refused here.
    * **Resuming.** MMEngine 0.10.7 passes ``FSDP.optim_state_dict_to_load``
      its arguments in torch 1.x's order (``--resume`` fails with ``TypeError:
      unhashable type: 'dict'``), and ``FSDP.optim_state_dict`` drops the
      optim wrapper's own entries (the loss scaler's state); both are fixed
      in :meth:`optim_state_dict` / :meth:`load_optim_state_dict`.
    * **Defaults for mmivnext.** ``state_dict_cfg='full'``: one checkpoint
      file written by rank 0, with the keys of the unwrapped model, as DDP
      writes it (``tools/test.py``, ``resume`` and the model converters read
      it); AMP optim wrappers (``mmivnext.AnyDeviceAmpOptimWrapper``,
      ``AmpOptimWrapper``) get ``use_fsdp=True`` (the sharded grad scaler)
      unless the config sets it.

    A distributed launch is needed, also for one process (``torchrun
    --nproc_per_node 1`` / ``tools/dist_train.sh CONFIG 1``).

    Args:
        wrap_modules (Sequence[str], optional): Class names of the modules to
            wrap as FSDP units, e.g. ``('TransformerEncoderLayer',
            'ModernBertLayer')`` (the encoder's and the predictor's blocks).
            Not together with ``model_wrapper.auto_wrap_policy``. Defaults to
            None: MMEngine's behaviour (one unit, unless ``auto_wrap_policy``
            says otherwise).
        checkpoint_modules (Sequence[str], optional): Class names of the
            modules whose activations are recomputed in the backward pass.
            Defaults to None (no activation checkpointing).
        model_wrapper (dict, optional): ``MMFullyShardedDataParallel``
            arguments (``sharding_strategy``, ``mixed_precision``,
            ``backward_prefetch``, ``use_orig_params``...). ``device_id``
            defaults to ``LOCAL_RANK`` on accelerators and to the CPU
            without. Defaults to None.
        skip_init_weights (bool): As in ``FSDPStrategy``: build the model on
            the meta device without initialising it; ``load_from`` must then
            fill every weight. Refused for models with frozen teachers (their
            weights are in no checkpoint). Defaults to False.
        state_dict_cfg (str | dict): As in ``FSDPStrategy``: ``'full'``,
            ``'local'`` (one file per rank in a folder) or a dict. Defaults to
            ``'full'``.
        activation_checkpointing (dict, optional): Refused; use
            ``checkpoint_modules``.
        **kwargs: ``BaseStrategy``'s keyword arguments (``work_dir``,
            ``experiment_name``, ``env_kwargs``, ``log_kwargs``,
            ``auto_scale_lr``), which ``FlexibleRunner`` passes; unknown
            names raise a ``TypeError``.
    """

    def __init__(self,
                 *,
                 wrap_modules: Optional[Sequence[str]] = None,
                 checkpoint_modules: Optional[Sequence[str]] = None,
                 model_wrapper: Optional[dict] = None,
                 skip_init_weights: bool = False,
                 state_dict_cfg: Union[str, dict] = 'full',
                 activation_checkpointing: Optional[dict] = None,
                 **kwargs) -> None:
        if activation_checkpointing is not None:
            raise ValueError(
                'AnyDeviceFSDPStrategy: use checkpoint_modules=(class names) '
                'instead of activation_checkpointing (MMEngine 0.10.7 drops '
                "the arguments of a dict check_fn), got "
                f'activation_checkpointing={activation_checkpointing!r}.')
        for name, value in (('wrap_modules', wrap_modules),
                            ('checkpoint_modules', checkpoint_modules)):
            if value is not None and (isinstance(value, str) or not all(
                    isinstance(v, str) for v in value) or not value):
                raise TypeError(f'{name} must be None or a non-empty sequence '
                                f'of class names, got {value!r}.')
        if model_wrapper is not None:
            if not isinstance(model_wrapper, dict):
                raise TypeError(f'model_wrapper must be a dict, got '
                                f'{type(model_wrapper).__name__}.')
            if wrap_modules and model_wrapper.get('auto_wrap_policy'):
                raise ValueError(
                    'Set either wrap_modules or model_wrapper.auto_wrap_policy, '
                    'not both.')
        self.wrap_modules = tuple(wrap_modules or ())
        self.checkpoint_modules = tuple(checkpoint_modules or ())
        super().__init__(
            model_wrapper=copy.deepcopy(model_wrapper),
            skip_init_weights=skip_init_weights,
            state_dict_cfg=state_dict_cfg,
            **kwargs)
        if not self._on_accelerator():
            for config in (self.state_dict_config,
                           self.optim_state_dict_config):
                if getattr(config, 'offload_to_cpu', False):
                    config.offload_to_cpu = False

    @staticmethod
    def _on_accelerator() -> bool:
        return get_device() != 'cpu'

    def compute_device(self) -> torch.device:
        """The device this rank computes on: ``<accelerator>:LOCAL_RANK`` or
        the CPU."""
        if not self._on_accelerator():
            return torch.device('cpu')
        return torch.device(get_device(), int(os.environ.get('LOCAL_RANK',
                                                             0)))

    def _setup_distributed(self,
                           launcher: str = 'pytorch',
                           backend: str = 'nccl',
                           **kwargs) -> None:
        """Start the process group: MMEngine's ``init_dist`` on accelerators,
        gloo from the launcher's environment on CPU (``backend`` and
        ``kwargs``, from ``env_cfg.dist_cfg``, are then not used)."""
        if self._on_accelerator():
            super()._setup_distributed(launcher, backend, **kwargs)
        else:
            init_cpu_process_group(launcher)

    def build_model(self, model: Union[nn.Module, dict]) -> nn.Module:
        """Build the model as ``FSDPStrategy`` does; refuse
        ``skip_init_weights`` for models with frozen teachers."""
        model = super().build_model(model)
        if self.skip_init_weights and _frozen_teachers(model):
            raise ValueError(
                'skip_init_weights=True cannot build a model with frozen '
                'teachers: they are built on the meta device too, load their '
                'weights at construction only and are in no checkpoint, so '
                'they would run with uninitialised weights.')
        return model

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        """Move the data preprocessor and the frozen teachers to the compute
        device, wrap the model in FSDP, then apply activation checkpointing.
        """
        if is_model_wrapper(model):
            return model
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                'AnyDeviceFSDPStrategy needs a distributed launch, also for '
                'one process: tools/dist_train.sh CONFIG NUM_PROCS (or '
                'tools/train.py --launcher pytorch under torchrun).')
        wrap_classes = classes_named(
            model, self.wrap_modules, 'wrap_modules') \
            if self.wrap_modules else ()
        checkpoint_classes = classes_named(
            model, self.checkpoint_modules, 'checkpoint_modules') \
            if self.checkpoint_modules else ()

        device = self.compute_device()
        for module in model.modules():
            if isinstance(module, BaseDataPreprocessor):
                module.to(device)
        move_frozen_teachers(model, device)

        # A copy: MMFullyShardedDataParallel edits the nested dicts.
        wrapper = copy.deepcopy(self.model_wrapper) or {}
        wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        wrapper.setdefault(
            'device_id', device if device.type == 'cpu' else device.index)
        if wrap_classes:
            wrapper['auto_wrap_policy'] = ModuleWrapPolicy(wrap_classes)
        model = MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model))
        model.set_state_dict_type(model, self.state_dict_type,
                                  self.state_dict_config,
                                  self.optim_state_dict_config)
        if checkpoint_classes:
            from torch.distributed.algorithms._checkpoint.checkpoint_wrapper \
                import apply_activation_checkpointing
            apply_activation_checkpointing(
                model,
                check_fn=lambda m: isinstance(m, checkpoint_classes))
        return model

    def build_optim_wrapper(self, optim_wrapper, model=None
                            ) -> BaseOptimWrapper:
        """Build the optim wrapper as ``FSDPStrategy`` does, with
        ``use_fsdp=True`` for AMP wrappers and the sharded gradient-norm
        clipping (class docstring)."""
        if isinstance(optim_wrapper, dict) and \
                optim_wrapper.get('type') in AMP_OPTIM_WRAPPERS:
            optim_wrapper = copy.copy(optim_wrapper)
            optim_wrapper.setdefault('use_fsdp', True)
        wrapper = super().build_optim_wrapper(optim_wrapper, model)
        root = model if model is not None else self.model
        wrappers = wrapper.values() if isinstance(
            wrapper, OptimWrapperDict) else [wrapper]
        for each in wrappers:
            self._clip_over_shards(each, root)
        return wrapper

    def optim_state_dict(self) -> dict:
        """The optimizer's FSDP state dict (per ``state_dict_cfg``) with the
        optim wrapper's own entries (``loss_scaler``...), which
        ``FSDP.optim_state_dict`` would drop."""
        state = FullyShardedDataParallel.optim_state_dict(
            self.model, self._single_optim_wrapper().optimizer)
        for key, value in self.optim_wrapper.state_dict().items():
            if key not in ('state', 'param_groups'):
                state[key] = value
        return state

    def load_optim_state_dict(self, state_dict: dict) -> None:
        """Load what :meth:`optim_state_dict` saved.

        MMEngine 0.10.7 passes ``FSDP.optim_state_dict_to_load`` its arguments
        in torch 1.x's order, which torch >= 2.1 rejects (``TypeError:
        unhashable type: 'dict'`` when resuming); they are passed by name
        here.
        """
        wrapper = self._single_optim_wrapper()
        optimizer_keys = ('state', 'param_groups')
        extra = {k: v for k, v in state_dict.items()
                 if k not in optimizer_keys}
        optim_state = FullyShardedDataParallel.optim_state_dict_to_load(
            model=self.model, optim=wrapper.optimizer,
            optim_state_dict={k: v for k, v in state_dict.items()
                              if k in optimizer_keys})
        wrapper.load_state_dict(dict(optim_state, **extra))

    def _single_optim_wrapper(self) -> BaseOptimWrapper:
        if isinstance(self.optim_wrapper, OptimWrapperDict):
            raise TypeError('AnyDeviceFSDPStrategy saves and loads the state '
                            'of one optim wrapper, not of an '
                            'OptimWrapperDict.')
        return self.optim_wrapper

    @staticmethod
    def _clip_over_shards(wrapper: BaseOptimWrapper,
                          root: nn.Module) -> None:
        """Make ``wrapper`` clip gradient norms over all ranks' shards."""
        if getattr(wrapper, 'clip_func', None) is not \
                torch.nn.utils.clip_grad_norm_:
            return  # no clipping, or element-wise value clipping
        if not isinstance(root, FullyShardedDataParallel):
            raise TypeError(f'Expected the FSDP-wrapped model, got '
                            f'{type(root).__name__}.')
        unsupported = sorted(
            set(wrapper.clip_grad_kwargs) - {'max_norm', 'norm_type'})
        if unsupported:
            raise ValueError(
                f'clip_grad keys {unsupported} are not supported under FSDP, '
                "whose clip_grad_norm_ takes only 'max_norm' and "
                "'norm_type'.")
        wrapper.clip_func = functools.partial(_sharded_clip_grad_norm, root)
