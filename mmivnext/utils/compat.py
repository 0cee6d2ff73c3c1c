"""Every fix for upstream breakage, in one place.

Each fix says what breaks, in which versions, and acts only when the breakage is
present, so that it becomes a no-op once upstream is fixed. The import-time fixes are
applied by :func:`apply_import_fixes`, which ``mmivnext/__init__.py`` calls before
anything imports torchvision or ``mmaction.models``. The launch-time fixes
(:func:`init_cpu_distributed`, :class:`AnyDeviceAmpOptimWrapper` in
:mod:`mmivnext.engine.optimizers`, :class:`AnyDeviceFSDPStrategy` in
:mod:`mmivnext.engine.strategies`) are used by ``tools/train.py``.

Fixes, with their tests in ``tests/test_utils/test_compat.py``:

1. torchvision on CPU-only torch (:func:`fix_torchvision_cpu_import`).
2. mmaction2 1.2.0's wheel lacks ``mmaction/models/localizers/drn``
   (:func:`fix_mmaction_missing_drn`).
3. mmaction2 1.2.0's VindLU models cannot import under transformers 5
   (:func:`fix_mmaction_vindlu_import`).
4. torch >= 2.6 loads checkpoints with ``weights_only=True`` and rejects the
   non-tensor state MMEngine 0.10 writes into its checkpoints: numpy arrays
   (:func:`allow_numpy_arrays_in_checkpoints`) and the message hub's
   ``HistoryBuffer`` objects (``mmivnext.engine.hooks.WeightsOnlyCheckpointHook``,
   which every mmivnext config enables). Together they keep every load,
   resume included, weights-only.
5. MMEngine 0.10's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper
   (the ``Runner``'s and ``FlexibleRunner``'s ``DDPStrategy``'s) defaults to
   ``device_ids=[LOCAL_RANK]``; both fail without CUDA
   (:func:`init_cpu_distributed`, :func:`init_cpu_process_group`).
6. MMEngine 0.10's ``AmpOptimWrapper`` refuses to build without an accelerator
   (``mmivnext.engine.optimizers.AnyDeviceAmpOptimWrapper``).
7. MMEngine 0.10's checkpoint loaders call ``torch.load`` without
   ``weights_only`` (code runs from checkpoints under torch < 2.6 or
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), do not name the file in their errors
   and read ``.safetensors`` only with recent torch
   (:func:`load_checkpoints_weights_only`).
8. MMEngine 0.10's ``FSDPStrategy`` cannot run without CUDA (its ``device_id``
   is ``LOCAL_RANK``; torch 2.13's FSDP then needs ``device_id=cpu``, and its
   ``offload_to_cpu`` full state dicts read freed memory on CPU), leaves
   mmivnext's frozen teachers on the CPU on GPUs and clips gradient norms per
   shard (``mmivnext.engine.strategies.AnyDeviceFSDPStrategy``, tested in
   ``tests/test_engine/test_strategies``).
"""
import copy
import glob
import importlib
import importlib.util
import os
import sys
import types
from typing import List, Optional

import torch

# Library objects defined by fix 1; kept alive for the life of the process, since
# dropping a ``torch.library.Library`` removes what it defined.
_TORCHVISION_SCHEMA_LIBS: List[torch.library.Library] = []

#: Schemas of the torchvision operators that ``torchvision/_meta_registrations.py``
#: registers fake kernels for unconditionally (torchvision 0.17 to at least 0.28).
TORCHVISION_FAKE_REGISTERED_OPS = {
    'nms': 'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms': 'qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor',
}


def _torchvision_extension_loads() -> bool:
    """Whether torchvision's compiled ``_C`` extension loads into this torch.

    Loads it the way torchvision itself does (``torch.ops.load_library``), so a
    success is no extra cost: torchvision's own load is then a no-op.
    """
    spec = importlib.util.find_spec('torchvision')
    if spec is None or not spec.submodule_search_locations:
        return True  # not installed: nothing to fix
    pkg_dir = list(spec.submodule_search_locations)[0]
    libs = glob.glob(os.path.join(pkg_dir, '_C.*so')) + glob.glob(
        os.path.join(pkg_dir, '_C.*pyd'))
    for lib in libs:
        try:
            torch.ops.load_library(lib)
            return True
        except (OSError, RuntimeError):
            pass
    return False


def fix_torchvision_cpu_import() -> bool:
    """Let torchvision import when its C++ extension cannot load.

    Why: the torchvision wheels on PyPI (0.28.0 here) are linked against CUDA
    builds of torch. Under a CPU-only torch (``torch==2.13.0+cpu``) their ``_C``
    extension fails to load; torchvision tolerates that everywhere except in
    ``_meta_registrations.py``, which registers fake kernels for
    ``torchvision::nms`` and ``torchvision::qnms`` and raises
    ``RuntimeError: operator torchvision::nms does not exist``. timm and
    transformers import torchvision, so nothing works.

    Fix: declare those two operator schemas (no kernels) before torchvision is
    imported. torchvision's Python parts (transforms, models) then work; its
    compiled ops still raise torchvision's own "Couldn't load custom C++ ops".

    Returns:
        bool: True if the schemas were declared (the fix was needed).
    """
    if 'torchvision' in sys.modules or _TORCHVISION_SCHEMA_LIBS:
        return False
    if _torchvision_extension_loads():
        return False
    lib = torch.library.Library('torchvision', 'DEF')  # noqa: TOR901
    for schema in TORCHVISION_FAKE_REGISTERED_OPS.values():
        lib.define(schema)
    _TORCHVISION_SCHEMA_LIBS.append(lib)
    return True


class _MissingUpstreamModel:
    """Stands for a model whose source file is missing from an installed wheel."""

    missing_file = ''

    def __init__(self, *args, **kwargs):
        raise ImportError(
            f'{type(self).__name__} cannot be used: its source file '
            f'{self.missing_file} is missing from the installed mmaction2 '
            'wheel. Install mmaction2 from source to use it.')


def fix_mmaction_missing_drn() -> bool:
    """Provide the ``mmaction.models.localizers.drn`` module missing from 1.2.0.

    Why: the mmaction2 1.2.0 wheel ships ``localizers/__init__.py`` with
    ``from .drn.drn import DRN`` but not the ``drn`` folder, so
    ``import mmaction.models`` raises ``ModuleNotFoundError``.

    Fix: if the module cannot be found, register a module in ``sys.modules``
    whose ``DRN`` raises an ImportError that explains the missing file when it
    is built. Nothing is registered in mmaction2's registry.

    Returns:
        bool: True if the module was provided (the fix was needed).
    """
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return False
    localizers = importlib.util.find_spec('mmaction')
    if localizers is None:
        return False
    base = list(localizers.submodule_search_locations)[0]
    if os.path.exists(os.path.join(base, 'models', 'localizers', 'drn')):
        return False
    package = types.ModuleType(name)
    package.__path__ = []  # a package, so that ``drn.drn`` resolves
    module = types.ModuleType(f'{name}.drn')
    module.DRN = type('DRN', (_MissingUpstreamModel, ),
                      dict(missing_file='mmaction/models/localizers/drn/'))
    package.drn = module
    sys.modules[name] = package
    sys.modules[module.__name__] = module
    return True


#: Names that mmaction2 1.2.0's VindLU modules import from transformers.
VINDLU_TRANSFORMERS_IMPORTS = (
    ('transformers.modeling_utils', 'apply_chunking_to_forward'),
    ('transformers.modeling_utils', 'find_pruneable_heads_and_indices'),
    ('transformers.modeling_utils', 'prune_linear_layer'),
    ('transformers.file_utils', 'add_start_docstrings'),
)


def _vindlu_imports_resolve() -> bool:
    for module_name, attr in VINDLU_TRANSFORMERS_IMPORTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return False
        if not hasattr(module, attr):
            return False
    return True


def fix_mmaction_vindlu_import() -> bool:
    """Keep ``import mmaction.models`` working when VindLU cannot import.

    Why: mmaction2 1.2.0 imports its VindLU models whenever transformers>=4.28
    is installed, but they import helpers that transformers 5 removed from
    ``transformers.modeling_utils``, so ``import mmaction.models`` fails.

    Fix: when those imports do not resolve, set mmaction2's own switch
    ``mmaction.utils.dependency.WITH_MULTIMODAL`` to False before
    ``mmaction.models`` is imported. mmaction2 then registers its placeholders
    for the VindLU models, which raise a clear error if built.

    Returns:
        bool: True if the switch was turned off (the fix was needed).
    """
    if importlib.util.find_spec('mmaction') is None:
        return False
    dependency = importlib.import_module('mmaction.utils.dependency')
    if not dependency.WITH_MULTIMODAL or _vindlu_imports_resolve():
        return False
    if 'mmaction.models' in sys.modules:
        raise RuntimeError(
            'mmaction.models was imported before mmivnext could disable its '
            'VindLU imports, which fail under transformers '
            f'{importlib.import_module("transformers").__version__}. Import '
            'mmivnext before mmaction.models.')
    dependency.WITH_MULTIMODAL = False
    return True


#: numpy's array, dtype and scalar rebuilders: data, no code (torch's docs list
#: them as the globals to allow for numpy content). Both module spellings, since
#: numpy 2 renamed ``numpy.core`` to ``numpy._core``.
NUMPY_SAFE_GLOBALS = (
    'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'numpy._core.multiarray.scalar',
    'numpy.ndarray',
    'numpy.dtype',
)


def _import_object(path: str):
    module_name, attr = path.rsplit('.', 1)
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return None


def allow_numpy_arrays_in_checkpoints() -> bool:
    """Let ``weights_only`` loading rebuild numpy arrays and scalars.

    Why: since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, and
    MMEngine 0.10 calls it without the argument, while MMEngine's checkpoints
    hold numpy arrays and scalars (message hub histories, runtime info). Loading
    them raises ``UnpicklingError: Weights only load failed``.

    Fix: add numpy's array, dtype and scalar rebuilders to torch's allowlist of
    safe globals. Loading stays ``weights_only``: no checkpoint, ours or a third
    party's, runs pickled code, and one holding anything else still fails with
    torch's message naming the global.

    Returns:
        bool: True if globals were added (the fix was needed).
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return False  # torch < 2.4 loads with full pickle by default
    import numpy as np
    objects = [_import_object(p) for p in NUMPY_SAFE_GLOBALS]
    # numpy dtypes pickle as their DType classes (``numpy.dtypes.Float64DType``).
    objects += [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64,
                                    np.int8, np.uint8, np.int32, np.int64,
                                    np.bool_)
    ]
    torch.serialization.add_safe_globals([o for o in objects if o is not None])
    return True


#: MMEngine's checkpoint-loader prefixes whose loaders call ``torch.load``
#: without ``weights_only`` (mmengine/runner/checkpoint.py). Local paths ('')
#: and http(s) URLs get mmivnext's own loaders; the others are wrapped.
MMENGINE_TORCH_LOAD_SCHEMES = ('pavi://', r'(\S+\:)?s3://',
                               r'(\S+\:)?petrel://', 'modelzoo://',
                               'torchvision://', 'open-mmlab://',
                               'openmmlab://', 'mmcls://')


def _load_local_weights_only(filename: str, map_location=None):
    """MMEngine's loader of local files and http(s) URLs: mmivnext's one
    checkpoint reader (a URL is downloaded once, by rank 0 first)."""
    from mmivnext.utils.checkpoint_io import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


#: The same reader serves http(s) URLs.
_load_url_weights_only = _load_local_weights_only


def _forcing_weights_only(loader):
    """``loader`` run with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``, which makes
    every ``torch.load`` without an explicit ``weights_only`` weights-only."""

    def load(filename, map_location=None):
        saved = {k: os.environ.pop(k, None) for k in (
            'TORCH_FORCE_WEIGHTS_ONLY_LOAD', 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')}
        os.environ['TORCH_FORCE_WEIGHTS_ONLY_LOAD'] = '1'
        try:
            return loader(filename, map_location=map_location)
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None)
                if value is not None:
                    os.environ[key] = value

    load.weights_only = True
    load.wrapped = loader
    return load


def load_checkpoints_weights_only() -> bool:
    """Make every MMEngine checkpoint load weights-only and name the file.

    Why: MMEngine 0.10's checkpoint loaders (``load_from``, ``resume``,
    ``init_cfg=dict(type='Pretrained')``, ``_load_checkpoint``) call
    ``torch.load`` without ``weights_only``. Under torch < 2.6, or with
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set, that unpickles arbitrary code
    from a checkpoint. Their errors do not name the file either (a truncated
    ``--resume`` file gives ``PytorchStreamReader failed reading zip
    archive``), and torch reads ``.safetensors`` files only in recent
    releases.

    Fix: local paths and http(s) URLs load through
    :func:`mmivnext.utils.checkpoint_io.load_checkpoint_file` (``weights_only=
    True`` passed explicitly, which no environment variable overrides;
    ``.safetensors`` files through ``safetensors``; a URL is downloaded into
    torch hub's cache first; errors name the file); MMEngine's other schemes
    (pavi, s3, torchvision, open-mmlab, mmcls), whose loaders call
    ``torch.load`` inside MMEngine, run with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``.

    Returns:
        bool: True if the loaders were replaced by this call.
    """
    from mmengine.runner import CheckpointLoader
    schemes = CheckpointLoader._schemes
    if schemes.get('') is _load_local_weights_only:
        return False
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_weights_only, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=_load_url_weights_only,
        force=True)
    for prefix in MMENGINE_TORCH_LOAD_SCHEMES:
        loader = schemes.get(prefix)
        if loader is not None and not getattr(loader, 'weights_only', False):
            CheckpointLoader.register_scheme(
                prefixes=prefix, loader=_forcing_weights_only(loader),
                force=True)
    return True


def apply_import_fixes() -> dict:
    """Apply every import-time fix that is needed; return which ones acted."""
    return dict(
        torchvision_cpu_import=fix_torchvision_cpu_import(),
        mmaction_missing_drn=fix_mmaction_missing_drn(),
        mmaction_vindlu_import=fix_mmaction_vindlu_import(),
        numpy_in_checkpoints=allow_numpy_arrays_in_checkpoints(),
        weights_only_checkpoints=load_checkpoints_weights_only(),
    )


def init_cpu_process_group(launcher: str, backend: str = 'gloo') -> bool:
    """Start ``torch.distributed`` from the launcher's environment, on CPU.

    Why: see :func:`init_cpu_distributed`; MMEngine's ``init_dist`` cannot be
    used without CUDA.

    Args:
        launcher (str): ``'pytorch'`` (torchrun) or ``'slurm'``; ``'none'``
            does nothing.
        backend (str): The process-group backend. Defaults to ``'gloo'``.

    Returns:
        bool: True if the process group was initialised here (False with an
        accelerator, with ``launcher='none'`` or when a group exists).
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as dist
    if dist.is_initialized():
        return False
    if launcher == 'slurm':
        _export_slurm_env()
    elif launcher != 'pytorch':
        raise ValueError(
            f'launcher={launcher!r} is not supported on CPU; use '
            "'pytorch' (torchrun) or 'slurm'.")
    dist.init_process_group(backend=backend)
    return True


def init_cpu_distributed(cfg, backend: str = 'gloo') -> bool:
    """Start ``torch.distributed`` for a CPU run launched by torchrun or Slurm.

    Why: MMEngine 0.10's ``init_dist`` calls ``torch.cuda.set_device``, and
    both its runner and the ``FlexibleRunner``'s ``DDPStrategy`` wrap models
    in DDP with ``device_ids=[LOCAL_RANK]``; all fail without CUDA.

    Fix: if no accelerator is available and the run is distributed, initialise
    the process group (gloo) from the launcher's environment ourselves
    (:func:`init_cpu_process_group`), since the runner and the strategies skip
    ``init_dist`` when a group exists, and set ``device_ids = None`` in
    ``model_wrapper_cfg`` (the ``Runner``'s) and, for a ``DDPStrategy``, in
    ``strategy.model_wrapper``: both win over MMEngine's default. The caller's
    config is updated in place (it is the run's config); other wrapper keys
    are kept. Other strategies are left alone (``AnyDeviceFSDPStrategy``
    handles the CPU itself).

    Args:
        cfg (mmengine.Config): The run's config; ``cfg.launcher`` says how the
            run was launched (``'none'``, ``'pytorch'``, ``'slurm'``).
        backend (str): The process-group backend. Defaults to ``'gloo'``.

    Returns:
        bool: True if the run is distributed on CPU (the process group was
        initialised here or already existed).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    init_cpu_process_group(launcher, backend)
    wrapper = copy.deepcopy(
        cfg.get('model_wrapper_cfg', None)
        or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    strategy = cfg.get('strategy', None)
    if isinstance(strategy, dict) and _strategy_name(strategy) == 'DDPStrategy':
        # MMEngine's DDPStrategy default wrapper, with device_ids=None.
        wrapper = copy.deepcopy(
            strategy.get('model_wrapper', None)
            or dict(type='MMDistributedDataParallel', broadcast_buffers=False))
        wrapper['device_ids'] = None
        strategy['model_wrapper'] = wrapper
    return True


def _strategy_name(strategy: dict) -> str:
    """The class name a ``strategy`` config builds, without its scope."""
    strategy_type = strategy.get('type', '')
    if not isinstance(strategy_type, str):
        return strategy_type.__name__
    return strategy_type.rsplit('.', 1)[-1]


def _export_slurm_env(port: Optional[int] = None) -> None:
    """Translate Slurm's variables into the ones ``init_process_group`` reads."""
    import subprocess
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(
        f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', str(port or 29500))
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
