"""benchmarks/gpu_check.sh in its tiny CPU mode, and the time boxes of its
sections."""
import argparse
import importlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH_DIR = osp.join(ROOT, 'benchmarks')
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)
gpu_check = importlib.import_module('gpu_check')
spec = importlib.util.spec_from_file_location(
    'gpu_wheels', osp.join(ROOT, 'tools', 'gpu', 'wheels.py'))
wheels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wheels)

TRAIN_STEP_SECTIONS = ['s1_vitb', 's2_vitb']


def test_cpu_tiny_report(tmp_path):
    wheel_dir = tmp_path / 'wheels'
    # A wheel this interpreter lacks: the install plan picks it, and the
    # tiny mode's pip --dry-run must leave it uninstalled.
    wheels.write_stub(str(wheel_dir), 'gpu-check-probe', '1.0')
    out = tmp_path / 'out'
    proc = subprocess.run(
        ['bash', osp.join(BENCH_DIR, 'gpu_check.sh'), str(wheel_dir), str(out),
         '--cpu-tiny', '--work-dir', str(tmp_path / 'work'), '--cache-dir',
         str(tmp_path / 'cache')],
        env=dict(os.environ, PYTHON=sys.executable), capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pytest.raises(PackageNotFoundError):
        version('gpu-check-probe')
    assert 'Would install gpu-check-probe-1.0' in (
        out / 'install.log').read_text()

    results = json.loads((out / 'results.json').read_text())
    expected = {name: 'ok' for name in ['environment', 'sdpa', 'prepare',
                                        *TRAIN_STEP_SECTIONS, 'train',
                                        'fsdp']}
    expected.update(dict.fromkeys(['s1_vitl', 's1_vitb_compile',
                                   's2_vitb_compile', 's1_vitl_compile'],
                                  'skipped'))
    assert {k: v['status'] for k, v in results.items()} == expected
    assert results['environment']['peak_flops'] > 0
    for name in TRAIN_STEP_SECTIONS:
        rows = results[name]['rows']
        assert [r['variant'] for r in rows] == ['eager', 'eager + act. ckpt']
        for row in rows:
            # The search met the simulated out-of-memory error at batch 2.
            assert row['search'] == '1 ok, 2 OOM' and row['batch'] == 1
            assert row['clips/s'] > 0 and row['TFLOP/step'] > 0
            assert 0 < row['MFU %'] < 100
        assert 'scaled_dot_product' in rows[0]['SDPA kernels']
    for name in ('train', 'fsdp'):
        assert results[name]['iterations'] == 2
        assert results[name]['last_loss'] > 0

    report = (out / 'report.md').read_text()
    headings = [line for line in report.splitlines()
                if line.startswith('## ')]
    assert headings == ['## Sections', '## Install', '## Environment',
                        '## SDPA kernels', '## Train steps',
                        '## tools/train.py --amp', '## One-GPU FSDP']
    assert '| `s1_vitb_compile` |' in report
    assert 'pip install --dry-run --no-deps of 1 wheels: ok' in report
    log = (out / 'gpu_check.log').read_text()
    assert '===== fsdp: ok' in log and 'Epoch(train) [1][2/2]' in log


def sleep_after_recording(ctx, out):
    out.update(done='before the sleep')
    time.sleep(60)


def exit_hard(ctx, out):
    print('about to end the process', flush=True)
    os._exit(3)


def raise_error(ctx, out):
    print('a line of the log', flush=True)
    raise ValueError('bad value in the section')


@pytest.mark.parametrize('run,status,error', [
    (raise_error, 'failed', 'ValueError: bad value in the section'),
    (exit_hard, 'crashed', 'ended with status 768'),
    (sleep_after_recording, 'timed out', 'stopped after 0.5 s'),
])
def test_section_outcomes(tmp_path, run, status, error):
    ctx = argparse.Namespace(tiny=False, work_dir=str(tmp_path),
                             end=time.time() + 30,
                             log_file=str(tmp_path / 'all.log'))
    section = gpu_check.Section('probe', 'Probe', run, cap=0.5,
                                tiny_cap=0.5)
    start = time.time()
    record = gpu_check.run_section(section, ctx)
    assert time.time() - start < 10
    assert record['status'] == status
    assert error in record['error']
    if run is sleep_after_recording:
        assert record['done'] == 'before the sleep'  # partial results kept
    else:
        assert record['log_tail'].strip()
    # The report lists it with the error's last line and the log tail.
    report = gpu_check.render(argparse.Namespace(
        tiny=False, started_utc='-', t0=start, budget=30, command='-',
        install_status='-', sections=[section]), {'probe': record}, None)
    assert f'| `probe` | Probe | {status} |' in report
    assert '### `probe`: ' + status in report
