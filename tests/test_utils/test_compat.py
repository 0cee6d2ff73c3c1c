"""Each upstream fix acts exactly when its breakage is present, and fixes it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import mmivnext
from mmivnext.utils import compat


def _run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (import-time fixes need one)."""
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def fresh_imports():
    """In one fresh interpreter: what breaks without mmivnext, and with it."""
    without = _run_python('import torchvision')
    code = r'''
import json, importlib, os
import mmivnext
import torch, torchvision, timm, transformers
import mmaction.models
from mmaction.registry import MODELS as MMACTION_MODELS
out = dict(applied=mmivnext.APPLIED_FIXES)
try:
    torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
    out['nms'] = 'ran'
except RuntimeError as e:
    out['nms'] = str(e)
from mmaction.models.localizers import DRN
try:
    DRN()
except ImportError as e:
    out['drn'] = str(e)
try:
    MMACTION_MODELS.build(dict(type='VindLURetrieval'))
except ImportError as e:
    out['vindlu'] = str(e)
spec = importlib.util.find_spec('mmaction')
out['drn_folder_exists'] = os.path.isdir(os.path.join(
    list(spec.submodule_search_locations)[0], 'models', 'localizers', 'drn'))
print(json.dumps(out))
'''
    with_fix = _run_python(code)
    assert with_fix.returncode == 0, with_fix.stderr[-3000:]
    return without, json.loads(with_fix.stdout.strip().splitlines()[-1])


def test_torchvision_imports_on_cpu_torch(fresh_imports):
    without, result = fresh_imports
    needed = without.returncode != 0
    if needed:
        assert 'torchvision::nms does not exist' in without.stderr
    assert result['applied']['torchvision_cpu_import'] == needed
    if needed:
        # The Python parts import; the compiled ops fail with torchvision's
        # own message, not with a missing-operator crash.
        assert "Couldn't load custom C++ ops" in result['nms']


def test_mmaction_missing_drn(fresh_imports):
    _, result = fresh_imports
    needed = not result['drn_folder_exists']
    assert result['applied']['mmaction_missing_drn'] == needed
    if needed:
        assert 'localizers/drn' in result['drn']


def test_mmaction_vindlu_placeholders(fresh_imports):
    _, result = fresh_imports
    if result['applied']['mmaction_vindlu_import']:
        assert 'requires extra multi-modal dependencies' in result['vindlu']


def test_vindlu_fix_matches_transformers():
    """The switch is turned off exactly when VindLU's imports do not resolve."""
    needed = not compat._vindlu_imports_resolve()
    assert mmivnext.APPLIED_FIXES['mmaction_vindlu_import'] == needed


def test_fixes_are_idempotent():
    again = compat.apply_import_fixes()
    assert not again['torchvision_cpu_import']
    assert not again['mmaction_missing_drn']
    assert not again['mmaction_vindlu_import']
    assert not again['weights_only_checkpoints']


def test_numpy_state_loads_weights_only(tmp_path):
    state = dict(
        weights=torch.ones(2),
        history=np.arange(3, dtype=np.int64),
        mean=np.float64(0.5),
        flags=np.array([True, False]))
    path = tmp_path / 'state.pth'
    torch.save(state, path)
    loaded = torch.load(path, map_location='cpu')  # default: weights_only
    np.testing.assert_array_equal(loaded['history'], np.arange(3))
    assert loaded['mean'] == pytest.approx(0.5)
    np.testing.assert_array_equal(loaded['flags'], [True, False])


class _Payload:
    """Stands for any pickled object outside the allowlist."""


def test_weights_only_still_rejects_other_objects(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(dict(payload=_Payload()), path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path, map_location='cpu')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only fix')
def test_init_cpu_distributed(monkeypatch):
    from mmengine import Config
    import torch.distributed as dist

    cfg = Config(dict(launcher='none'))
    assert not compat.init_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg

    port = 29000 + os.getpid() % 1000
    for key, value in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                           RANK='0', WORLD_SIZE='1', LOCAL_RANK='0').items():
        monkeypatch.setenv(key, value)
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel',
                find_unused_parameters=True)))
    try:
        assert compat.init_cpu_distributed(cfg)
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel',
            find_unused_parameters=True,
            device_ids=None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()

    with pytest.raises(ValueError, match="launcher='mpi'"):
        compat.init_cpu_distributed(Config(dict(launcher='mpi')))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only fix')
def test_init_cpu_distributed_sets_ddp_strategy_device_ids(monkeypatch,
                                                           tmp_path):
    """FlexibleRunner's DDPStrategy wraps with device_ids=[LOCAL_RANK] by
    default, which fails on CPU; other strategies are left alone."""
    from mmengine import Config
    import torch.distributed as dist
    from mmengine.registry import STRATEGIES

    port = 29000 + (os.getpid() + 500) % 1000
    for key, value in dict(
            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0',
            WORLD_SIZE='1', LOCAL_RANK='0',
            # MMEngine sets these for distributed runs if unset.
            OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'),
            MKL_NUM_THREADS=os.environ.get('MKL_NUM_THREADS', '1')).items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(launcher='pytorch', strategy=dict(type='DDPStrategy')))
    fsdp = Config(dict(launcher='pytorch', strategy=dict(
        type='mmivnext.AnyDeviceFSDPStrategy')))
    try:
        assert compat.init_cpu_distributed(cfg)
        assert cfg.strategy.model_wrapper == dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            device_ids=None)
        assert compat.init_cpu_distributed(fsdp)  # the group exists already
        assert fsdp.strategy == dict(type='mmivnext.AnyDeviceFSDPStrategy')
        # The strategy now wraps a CPU model in DDP.
        strategy = STRATEGIES.build(
            dict(cfg.strategy, env_kwargs=dict(launcher='pytorch'),
                 work_dir=str(tmp_path)))
        wrapped = strategy.prepare(torch.nn.Linear(2, 2))
        assert type(wrapped).__name__ == 'MMDistributedDataParallel'
        assert wrapped.device_ids is None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_mmengine_reads_safetensors_without_torch_load(tmp_path, monkeypatch):
    from mmengine.runner import CheckpointLoader
    from safetensors.torch import save_file
    weights = dict(weight=torch.arange(6.).reshape(2, 3), bias=torch.ones(2))
    path = str(tmp_path / 'encoder.safetensors')
    save_file(weights, path)

    def no_torch_load(*args, **kwargs):
        raise AssertionError('torch.load used for a .safetensors file')

    monkeypatch.setattr(torch, 'load', no_torch_load)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)


def test_every_mmengine_loader_is_weights_only(monkeypatch):
    """Local files and every scheme MMEngine registers load weights-only,
    even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set."""
    from mmengine.runner import CheckpointLoader
    schemes = CheckpointLoader._schemes
    assert schemes[''] is compat._load_local_weights_only
    assert schemes['https://'] is compat._load_url_weights_only
    for prefix in compat.MMENGINE_TORCH_LOAD_SCHEMES:
        assert getattr(schemes[prefix], 'weights_only', False), prefix
    # A wrapped loader sees TORCH_FORCE_WEIGHTS_ONLY_LOAD=1 while it runs.
    seen = {}

    def loader(filename, map_location=None):
        seen.update(force=os.environ.get('TORCH_FORCE_WEIGHTS_ONLY_LOAD'),
                    no=os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))
        return {}

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    compat._forcing_weights_only(loader)('x')
    assert seen == dict(force='1', no=None)
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ
