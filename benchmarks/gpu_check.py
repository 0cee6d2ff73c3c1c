"""GPU readiness check: what mmivnext does on one GPU, in one time-boxed run.

Run by ``benchmarks/gpu_check.sh WHEEL_DIR OUT_DIR`` after it installs the
wheels; it can also run alone (``python benchmarks/gpu_check.py --out-dir
OUT``). It writes ``OUT/report.md`` (and ``results.json``, ``gpu_check.log``)
again after every section, each time atomically, so a run stopped at any
moment leaves a complete report of what it measured. The sections, in order:

``environment``
    Versions, the device, and the bf16 ``torch.mm`` peak (the best of 4096^3
    and 8192^3 products) that the MFU figures divide by.
``sdpa``
    Which SDPA kernel PyTorch picks for the encoder's and the predictor's
    attention shapes, and each kernel's time where it runs.
``prepare``
    Random checkpoints of the released architectures
    (``bench_train_step.py``'s SigLIP2-1B-sized teacher and ModernBERT-Large-
    sized predictor, a random Stage-1 encoder for Stage 2), the tiny demo
    models, and synthetic demo videos.
``s1_vitb``, ``s2_vitb``, ``s1_vitl``
    bf16 train steps of ``configs/ivnext/stage{1,2}_vit{b,l}.py`` (built by
    ``bench_train_step.build``) eager, with and without activation
    checkpointing, each at the largest batch that fits (doubling from a
    start batch until out of memory, halving below it, then up to two
    bisection steps, each trial one train step): clips/s,
    TFLOP/s (``mmivnext.utils.flops``), MFU, peak memory, the SDPA kernels
    that ran.
``train``
    ``tools/train.py --amp`` of the Stage-1 demo config for 20 iterations
    on synthetic videos (teacher and predictor random).
``fsdp``
    ``tools/dist_train.sh CONFIG 1`` with ``mmivnext.AnyDeviceFSDPStrategy``
    (docs/scale_out.md's ViT-1B settings), 20 iterations.
``s1_vitb_compile``, ``s2_vitb_compile``, ``s1_vitl_compile``
    The same steps with ``torch.compile``'d encoders, at the batches the
    eager runs found; last, since compiling takes longest.

Each section runs in a forked child process (the parent imports the
libraries once and never touches CUDA; if a forked child cannot start CUDA,
or with ``--isolation exec``, in a fresh interpreter) with a time box:
a section that
fails, runs out of memory outside the batch search, crashes or overruns is
recorded with the tail of its log, and the next one starts. Sections that
the time budget no longer allows are listed as skipped.

``--cpu-tiny`` runs the sections on the CPU at the demo configs' sizes, in
fp32, with one timed step and 2 training iterations, without
``torch.compile`` (the compiled sections, and ``s1_vitl``, the same tiny
model as ``s1_vitb``, are skipped) and with an out-of-memory error simulated
above batch 1 (so the batch search takes both branches):
``tests/test_benchmarks/test_gpu_check.py`` runs ``gpu_check.sh`` so.
"""
import argparse
import glob
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional

# Before torch: torch.cuda.is_available() then asks NVML and does not
# initialise CUDA in the parent, whose forked children use the GPU.
os.environ.setdefault('PYTORCH_NVML_BASED_CUDA_CHECK', '1')

BENCH_DIR = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(BENCH_DIR)
DEMO_CONFIG = ('configs/ivnext/demo/'
               'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py')
#: Train-step sections: (stage, size, title, start batch of the search).
MODELS = {
    's1_vitb': (1, 'base', 'Stage 1, ViT-B/14', 16),
    's2_vitb': (2, 'base', 'Stage 2, ViT-B/14', 8),
    's1_vitl': (1, 'large', 'Stage 1, ViT-L/14', 8),
}
#: FSDP options (docs/scale_out.md); bf16 weights and reduction on GPUs.
FSDP_OPTIONS = [
    'strategy.type=mmivnext.AnyDeviceFSDPStrategy',
    'strategy.wrap_modules=[TransformerEncoderLayer,ModernBertLayer]',
    'strategy.checkpoint_modules=[TransformerEncoderLayer,ModernBertLayer]']
FSDP_BF16_OPTIONS = [
    'strategy.model_wrapper.mixed_precision.param_dtype=bfloat16',
    'strategy.model_wrapper.mixed_precision.reduce_dtype=bfloat16']
LOG_TAIL = 25  # lines of a failed section's log in the report


class Section:
    """One time-boxed part of the check.

    Args:
        name (str): Key in ``results.json`` and ``--sections``.
        title (str): Heading in the report.
        run (callable): ``run(ctx, out)`` in the child; ``out`` records.
        cap (float): Most seconds on a GPU (``tiny_cap`` with --cpu-tiny).
    """

    def __init__(self, name: str, title: str, run: Callable, cap: float,
                 tiny_cap: float):
        self.name, self.title, self.run = name, title, run
        self.cap, self.tiny_cap = cap, tiny_cap


class Recorder:
    """A section's results, rewritten to a JSON file at each update, so that
    the parent reads what a killed child had finished."""

    def __init__(self, path: str):
        self.path, self.data = path, dict(rows=[])

    def update(self, **items) -> None:
        self.data.update(items)
        write_atomic(self.path, json.dumps(self.data, indent=1,
                                           default=str))

    def add_row(self, row: dict) -> None:
        self.data['rows'].append(row)
        self.update()


def write_atomic(path: str, text: str) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tail(path: str, lines: int = LOG_TAIL) -> str:
    if not osp.isfile(path):
        return ''
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def last_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[-1][:120] if lines else ''


def is_oom(error: BaseException) -> bool:
    """Out of device memory (PyTorch's allocator, cuBLAS or cuDNN)."""
    import torch
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and any(
            s in str(error) for s in ('out of memory', 'ALLOC_FAILED')))


# --------------------------------------------------------------- sections


def run_environment(ctx, out: Recorder) -> None:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ('torch', 'torchvision', 'triton', 'mmivnext', 'mmengine',
                 'mmcv-lite', 'mmcv', 'mmaction2', 'timm', 'transformers',
                 'decord', 'numpy', 'opencv-python', 'opencv-python-headless',
                 'opencv-contrib-python'):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    out.update(versions=versions, python=sys.version.split()[0])
    import cv2
    import decord  # noqa: F401
    import torch
    from common import matmul_peak

    import mmaction  # noqa: F401
    import mmivnext
    out.update(mmivnext_path=osp.dirname(mmivnext.__file__),
               cv2=cv2.__version__)
    device = torch.device(ctx.device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError('no CUDA device: run on a GPU machine, or '
                               'with --cpu-tiny')
        props = torch.cuda.get_device_properties(device)
        out.update(device=f'{props.name}, {props.total_memory / 2**30:.0f} '
                   f'GiB, {props.multi_processor_count} SMs, compute '
                   f'capability {props.major}.{props.minor}',
                   cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
        peaks = {size: matmul_peak(device, torch.bfloat16, size=size)
                 for size in (4096, 8192)}
        dtype = 'bf16'
    else:
        out.update(device=f'CPU, {os.cpu_count()} cores, '
                   f'{torch.get_num_threads()} threads')
        peaks = {256: matmul_peak(device, torch.float32, size=256, iters=3)}
        dtype = 'fp32'
    out.update(peak_dtype=dtype,
               peaks={str(k): v for k, v in peaks.items()},
               peak_flops=max(peaks.values()))


def sdpa_ops(events) -> str:
    """``name xN`` of the attention kernels among profiler events."""
    counts = {}
    for evt in events:
        name = evt.name
        if name.startswith('aten::') and ('attention' in name or
                                          'flex' in name) and \
                name != 'aten::scaled_dot_product_attention':
            counts[name] = counts.get(name, 0) + 1
    return ', '.join(f'{n[len("aten::"):]} x{c}'
                     for n, c in sorted(counts.items())) or 'none'


def run_sdpa(ctx, out: Recorder) -> None:
    import torch
    import torch.nn.functional as F
    from common import median, time_fn
    from torch.profiler import ProfilerActivity, profile

    from mmivnext.models.utils import sdpa_backends_context
    device = torch.device(ctx.device)
    dtype = torch.float32 if ctx.tiny else torch.bfloat16
    window = 128 if not ctx.tiny else 8
    # (what, batch, heads, tokens, head dims, sliding-window mask)
    shapes = [('encoder, Stage-1 ViT-B (20% of 16x16x16 + cls)', 32, 12,
               821, 64, False),
              ('predictor, ModernBERT-Large global layer, Stage 1', 8, 16,
               4097, 64, False),
              (f'predictor, local layer (window {window}), Stage 1', 8, 16,
               4097, 64, True)]
    if ctx.tiny:
        shapes = [(what, 2, 2, 65, 16, local)
                  for what, _, _, _, _, local in shapes]
    for what, batch, heads, tokens, dims, local in shapes:
        q, k, v = (torch.randn(batch, heads, tokens, dims, device=device,
                               dtype=dtype) for _ in range(3))
        mask = None
        if local:
            pos = torch.arange(tokens, device=device)
            mask = (pos[:, None] - pos[None]).abs() <= window // 2

        def call():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            call()
        row = {'attention': what,
               'shape': f'{batch}x{heads}x{tokens}x{dims}'
                        f'{" + bool mask" if local else ""}',
               'default kernel': sdpa_ops(prof.events())}
        for backend in ('flash', 'efficient', 'cudnn', 'math'):
            try:
                with sdpa_backends_context([backend]):
                    ms = 1e3 * median(time_fn(call, device, 1, 3))
                row[f'{backend} ms'] = round(ms, 3)
            except Exception as e:  # noqa: B902 (no kernel for the inputs)
                row[f'{backend} ms'] = 'n/a: ' + str(e).strip().split(
                    '\n')[0][:60]
        out.add_row(row)


def run_prepare(ctx, out: Recorder) -> None:
    import torch
    import bench_train_step as bench

    from mmivnext.testing import (make_demo_models, make_demo_videos,
                                  save_tiny_modernbert, save_tiny_siglip)
    start = time.perf_counter()
    # Random init of 1.1 B + 0.4 B parameters is faster on the GPU; the
    # checkpoints are the same files either way. (--cpu-tiny writes tiny
    # models of the same kinds the same way.)
    for name, save, sizes in (
            ('siglip2-giant-opt-random', save_tiny_siglip,
             bench.SIGLIP2_GIANT_OPT),
            ('modernbert-large-random', save_tiny_modernbert,
             bench.MODERNBERT_LARGE)):
        if ctx.tiny:
            name, sizes = f'{name}-tiny', {}
        path = osp.join(ctx.cache_dir, name)
        os.makedirs(ctx.cache_dir, exist_ok=True)
        try:
            with torch.device(ctx.device):
                bench._save_once(path, lambda p: save(p, **sizes))
        except Exception:  # noqa: B902
            traceback.print_exc()
            print(f'{name}: writing from the GPU failed, on the CPU now')
            bench._save_once(path, lambda p: save(p, **sizes))
    for stage, size, _, _ in MODELS.values():
        bench.build_model_cfg(stage, 'tiny' if ctx.tiny else size,
                              ctx.cache_dir, amp=not ctx.tiny)
    out.update(checkpoints_s=round(time.perf_counter() - start, 1))
    start = time.perf_counter()
    make_demo_models(ctx.demo_models)
    make_demo_videos(ctx.videos, num_train=ctx.train_iters * ctx.train_batch,
                     num_val=0, num_frames=32, size=64)
    out.update(videos=ctx.train_iters * ctx.train_batch,
               videos_s=round(time.perf_counter() - start, 1))


def set_checkpointing(model, enabled: bool) -> None:
    """Activation checkpointing of the encoder's and predictor's blocks
    (their ``with_cp``, read at each forward)."""
    model.backbone.with_cp = enabled
    predictor = getattr(model, 'predictor', None)
    if predictor is not None and hasattr(predictor, 'with_cp'):
        predictor.with_cp = enabled


class StepRunner:
    """Train steps of one built model at any batch, for the search and the
    measurement."""

    def __init__(self, ctx, model, optim_wrapper, clip_shape, device):
        self.ctx, self.model, self.optim_wrapper = ctx, model, optim_wrapper
        self.clip_shape, self.device = clip_shape, device
        self.masks = []
        model.masker.register_forward_hook(
            lambda module, args, output: self.masks.append(output))

    def clips(self, batch: int):
        import torch
        return torch.randn(batch, *self.clip_shape, device=self.device)

    def step(self, clips) -> None:
        import torch
        if self.ctx.simulate_oom_above and \
                clips.shape[0] > self.ctx.simulate_oom_above:
            raise torch.OutOfMemoryError(
                f'simulated (--simulate-oom-above '
                f'{self.ctx.simulate_oom_above})')
        self.masks.clear()
        with self.optim_wrapper.optim_context(self.model):
            losses = self.model(clips, mode='loss')
        loss, _ = self.model.parse_losses(losses)
        self.optim_wrapper.update_params(loss)

    def release(self) -> None:
        """Free what a failed step left (gradients, cached blocks)."""
        import gc

        import torch
        self.optim_wrapper.zero_grad()
        self.masks.clear()
        if self.device.type == 'cuda':
            gc.collect()  # tensors held by reference cycles of the error
            torch.cuda.empty_cache()

    def try_batch(self, batch: int) -> Optional[float]:
        """Seconds of one step at ``batch``, or None if out of memory."""
        from common import synchronize
        clips = self.clips(batch)
        failed = False
        try:
            synchronize(self.device)
            start = time.perf_counter()
            self.step(clips)
            synchronize(self.device)
            return time.perf_counter() - start
        except Exception as e:  # noqa: B902
            if not is_oom(e):
                raise
            failed = True
        finally:
            del clips
            if failed:
                self.release()
        return None

    def search(self, start: int, max_batch: int, deadline: float,
               refine: int = 2):
        """The largest batch in ``[1, max_batch]`` whose step fits: doubling
        from ``start``, halving below it, then ``refine`` bisection steps.
        Doubling stops early where one more step and the measurement
        (about 4 steps) would pass ``deadline``.

        Returns:
            tuple: ``(batch, trials, seconds)``: trials as ``'B ok'`` /
            ``'B OOM'`` strings; ``batch`` is 0 if batch 1 does not fit;
            ``seconds`` of the last step if it ran at ``batch``, else None.
        """
        ok, bad, trials, seconds = 0, None, [], {}
        batch = max(1, min(start, max_batch))
        while True:
            took = self.try_batch(batch)
            trials.append(f'{batch} {"OOM" if took is None else "ok"}')
            if took is None:
                bad = batch
                if ok or batch == 1:
                    break
                batch //= 2
                continue
            ok, seconds[batch] = batch, took
            if bad is not None or 2 * batch > max_batch:
                break
            if time.time() + 2 * took * 5 > deadline:
                trials.append('(doubling stopped: time box)')
                break
            batch *= 2
        for _ in range(refine):
            if not ok or bad is None or bad - ok <= max(1, ok // 8):
                break
            mid = (ok + bad) // 2
            if time.time() + seconds[ok] * 1.5 * 5 > deadline:
                break
            took = self.try_batch(mid)
            trials.append(f'{mid} {"OOM" if took is None else "ok"}')
            if took is None:
                bad = mid
            else:
                ok, seconds[mid] = mid, took
        last_ok = trials[-1] == f'{ok} ok'
        return ok, trials, seconds[ok] if last_ok else None

    def measure(self, batch: int, stage: int, peak: Optional[float],
                iters: int, with_ops: bool,
                first: Optional[float] = None) -> dict:
        """One untimed step (compiles, if any; skipped if the search's last
        step ran at ``batch`` and took ``first`` seconds), ``iters`` timed
        steps; FLOPs of the last step's masks; optionally one profiled
        step."""
        import torch
        import bench_train_step as bench
        from common import median, synchronize, time_fn
        from torch.profiler import ProfilerActivity, profile
        clips = self.clips(batch)
        cuda = self.device.type == 'cuda'
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        if first is None:
            synchronize(self.device)
            start = time.perf_counter()
            self.step(clips)
            synchronize(self.device)
            first = time.perf_counter() - start
        times = time_fn(lambda: self.step(clips), self.device, 0, iters)
        step_flops = sum(bench.part_flops(self.model, stage, clips,
                                          self.masks[0]).values())
        seconds = median(times)
        row = {'batch': batch, 'clips/s': batch / seconds,
               'step s': seconds, 'first step s': first,
               'TFLOP/step': step_flops / 1e12,
               'TFLOP/s': step_flops / seconds / 1e12,
               'MFU %': 100 * step_flops / seconds / peak if peak else '',
               'peak GiB': torch.cuda.max_memory_allocated(self.device)
               / 2**30 if cuda else 'n/a (CPU)'}
        if with_ops:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                self.step(clips)
            row['SDPA kernels'] = sdpa_ops(prof.events())
        return row


def run_train_steps(ctx, out: Recorder, key: str, compiled: bool) -> None:
    import torch
    import bench_train_step as bench
    from mmengine.logging import MMLogger
    from transformers.utils import logging as hf_logging
    stage, size, title, start = MODELS[key]
    argv = ['--stage', str(stage), '--size', 'tiny' if ctx.tiny else size,
            '--cache-dir', ctx.cache_dir, '--device', ctx.device,
            '--iters', str(ctx.iters)]
    if not ctx.tiny:
        argv.append('--amp')
    if compiled:
        argv.append('--compile')
    args = bench.parse_args(argv)
    device = bench.setup(args)
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    built = time.perf_counter()
    model, optim_wrapper, clips = bench.build(args, device)
    model.train()
    runner = StepRunner(ctx, model, optim_wrapper, tuple(clips.shape[1:]),
                        device)
    del clips
    out.update(model=title, clip=list(runner.clip_shape),
               build_s=round(time.perf_counter() - built, 1))
    variants = [(False, 'eager' if not compiled else 'compiled'),
                (True, 'eager + act. ckpt' if not compiled
                 else 'compiled + act. ckpt')]
    eager_batches = {row['variant'].endswith('ckpt'): row['batch'] for row in
                     ctx.results.get(key, {}).get('rows', [])
                     if row.get('batch')}
    found = 0
    for i, (cp, name) in enumerate(variants):
        row = {'model': title, 'variant': name}
        try:
            set_checkpointing(model, cp)
            share = (ctx.deadline - time.time()) / (len(variants) - i)
            deadline = time.time() + share
            warm = None
            if compiled and cp in eager_batches:
                batch, trials = eager_batches[cp], ['batch of the eager run']
            else:
                batch, trials, warm = runner.search(
                    max(start if not ctx.tiny else 1, found), ctx.max_batch,
                    deadline)
            row['search'] = ', '.join(trials)
            if not batch:
                raise RuntimeError('batch 1 does not fit: ' + row['search'])
            retry = False
            try:
                row.update(runner.measure(batch, stage, ctx.peak, ctx.iters,
                                          with_ops=not cp, first=warm))
            except Exception as e:  # noqa: B902
                if not is_oom(e) or batch == 1:
                    raise
                retry = True
            if retry:  # out of the except block: its frames hold tensors
                runner.release()
                row['search'] += f', {batch} OOM when measured'
                batch = max(1, batch * 3 // 4)
                row.update(runner.measure(batch, stage, ctx.peak, ctx.iters,
                                          with_ops=not cp))
            found = max(found, row['batch'])
        except Exception:  # noqa: B902
            row['error'] = traceback.format_exc()
            traceback.print_exc()
            runner.release()
        out.add_row(row)
        runner.release()
        if torch.cuda.is_available() and device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
    if any('error' in row for row in out.data['rows']):
        raise RuntimeError('a variant failed (see its row)')


def train_argv(ctx, work_dir: str) -> List[str]:
    """``tools/train.py`` arguments of the Stage-1 demo config on the
    synthetic videos, one epoch of ``train_iters`` iterations."""
    options = [
        f'train_dataloader.dataset.ann_file={ctx.videos}/train.txt',
        f'train_dataloader.dataset.data_prefix.video={ctx.videos}',
        f'train_dataloader.batch_size={ctx.train_batch}',
        f'model.teacher.pretrained={ctx.demo_models}/siglip_tiny',
        f'model.predictor.pretrained={ctx.demo_models}/modernbert_tiny',
        'train_cfg.max_epochs=1',
        f'default_hooks.logger.interval={max(1, ctx.train_iters // 4)}',
        'custom_hooks=[]']  # the demo's monitor reads data/demo_videos
    if ctx.tiny:
        options += ['train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False']
    argv = [osp.join(ROOT, DEMO_CONFIG), '--work-dir', work_dir]
    if not ctx.tiny:
        argv.append('--amp')
    return argv + ['--cfg-options'] + options


def run_tool(ctx, command: List[str], argv: List[str],
             env: Dict[str, str]) -> None:
    """Run ``tools/train.py`` with ``argv``: as ``command`` (an interpreter
    or shell, then a script relative to the repository) in a subprocess on
    a GPU; in this (forked) process with --cpu-tiny."""
    printable = ' '.join(command + argv)
    print(f'$ {printable}', flush=True)
    if ctx.tiny:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            'train', osp.join(ROOT, 'tools', 'train.py'))
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
        os.environ.update(env)
        train.main(argv)
        return
    sys.stdout.flush()
    # Its output goes where this process's goes (the section's log).
    subprocess.run([command[0], osp.join(ROOT, command[1])] + command[2:]
                   + argv, check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=ROOT, **env),
                   timeout=max(1., ctx.deadline - time.time() - 2))


def read_scalars(work_dir: str) -> dict:
    """Iterations, losses, iteration time and memory from MMEngine's
    ``vis_data/scalars.json`` of the newest run in ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json in {work_dir}')
    with open(files[-1]) as f:
        logs = [json.loads(line) for line in f if line.strip()]
    logs = [entry for entry in logs if 'loss' in entry]
    if not logs:
        raise ValueError(f'{files[-1]}: no loss logged')
    times = [e['time'] for e in logs if 'time' in e]
    return dict(iterations=logs[-1].get('step', logs[-1].get('iter')),
                first_loss=logs[0]['loss'], last_loss=logs[-1]['loss'],
                s_per_iter=sum(times) / len(times) if times else None,
                memory_mb=max((e.get('memory', 0) for e in logs),
                              default=None) or None)


def run_train(ctx, out: Recorder) -> None:
    work_dir = osp.join(ctx.work_dir, 'train')
    argv = train_argv(ctx, work_dir)
    command = [sys.executable, 'tools/train.py']
    out.update(command=' '.join(command + argv))
    start = time.perf_counter()
    run_tool(ctx, command, argv, {})
    out.update(seconds=round(time.perf_counter() - start, 1),
               **read_scalars(work_dir))
    if out.data['iterations'] != ctx.train_iters:
        raise RuntimeError(f'{out.data["iterations"]} iterations logged, '
                           f'expected {ctx.train_iters}')


def run_fsdp(ctx, out: Recorder) -> None:
    work_dir = osp.join(ctx.work_dir, 'fsdp')
    options = FSDP_OPTIONS + ([] if ctx.tiny else FSDP_BF16_OPTIONS)
    argv = train_argv(ctx, work_dir) + options
    port = str(free_port())
    command = ['bash', 'tools/dist_train.sh', argv[0], '1']
    if ctx.tiny:
        # What torchrun sets for its one worker.
        env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                   LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                   MASTER_PORT=port)
        argv = argv + ['--launcher', 'pytorch']
    else:
        env = dict(PYTHON=sys.executable, PORT=port)
    out.update(command=' '.join(command + argv[1:]))
    start = time.perf_counter()
    run_tool(ctx, command, argv[1:] if not ctx.tiny else argv, env)
    out.update(seconds=round(time.perf_counter() - start, 1),
               **read_scalars(work_dir))
    if out.data['iterations'] != ctx.train_iters:
        raise RuntimeError(f'{out.data["iterations"]} iterations logged, '
                           f'expected {ctx.train_iters}')


SECTIONS = [
    Section('environment', 'Environment and matmul peak', run_environment,
            40, 30),
    Section('sdpa', 'SDPA kernels', run_sdpa, 30, 20),
    Section('prepare', 'Random checkpoints and synthetic videos', run_prepare,
            120, 40),
] + [
    Section(key, f'{title} train step', lambda ctx, out, key=key:
            run_train_steps(ctx, out, key, compiled=False), 90, 30)
    for key, (_, _, title, _) in MODELS.items()
] + [
    Section('train', 'tools/train.py --amp, Stage-1 demo config on '
            'synthetic videos', run_train, 60, 40),
    Section('fsdp', 'One-GPU FSDP run (tools/dist_train.sh CONFIG 1)',
            run_fsdp, 60, 40),
] + [
    Section(f'{key}_compile', f'{title} train step, torch.compile',
            lambda ctx, out, key=key: run_train_steps(ctx, out, key,
                                                      compiled=True),
            120, 30)
    for key, (_, _, title, _) in MODELS.items()
]


# ----------------------------------------------------------------- parent


def section_body(section: Section, ctx, result_path: str) -> None:
    """Run ``section`` in a child process and record its outcome."""
    out = Recorder(result_path)
    try:
        if ctx.tiny:
            # Tiny ops on a shared machine: a second thread only waits.
            import torch
            torch.set_num_threads(1)
        section.run(ctx, out)
        out.update(status='ok')
    except BaseException:  # noqa: B902
        traceback.print_exc()
        out.update(status='failed', error=traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def child_main(name: str, ctx_path: str) -> None:
    """``--child``: a section in a fresh interpreter (the fallback when the
    parent's CUDA state forbids forking)."""
    with open(ctx_path) as f:
        ctx = argparse.Namespace(**json.load(f))
    sys.path.insert(0, BENCH_DIR)
    section = next(s for s in SECTIONS if s.name == name)
    section_body(section, ctx, osp.join(ctx.work_dir, f'{name}.json'))


def cuda_survives_fork(timeout: float = 120) -> bool:
    """Whether a forked child of this process can use the GPU: it cannot
    if an import here initialised CUDA (or asked the driver directly)."""
    import torch
    if torch.cuda.is_initialized():
        return False
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            torch.zeros(1, device='cuda').add_(1).item()
            code = 0
        finally:
            os._exit(code)
    end = time.time() + timeout
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def run_section(section: Section, ctx) -> dict:
    """Run ``section`` in a child process (forked, or a fresh interpreter
    with ``ctx.isolation == 'exec'``) under its time box, and return its
    record: status, seconds, the child's data and log tail."""
    result_path = osp.join(ctx.work_dir, f'{section.name}.json')
    log_path = osp.join(ctx.work_dir, f'{section.name}.log')
    for path in (result_path, log_path):
        if osp.exists(path):
            os.remove(path)
    cap = section.tiny_cap if ctx.tiny else section.cap
    deadline = min(time.time() + cap, ctx.end)
    start = time.time()
    sys.stdout.flush()
    sys.stderr.flush()
    if getattr(ctx, 'isolation', 'fork') == 'exec':
        ctx_path = osp.join(ctx.work_dir, f'{section.name}.ctx.json')
        state = {k: v for k, v in vars(ctx).items() if k != 'sections'}
        state.update(deadline=deadline, log_path=log_path)
        write_atomic(ctx_path, json.dumps(state, default=str))
        with open(log_path, 'w') as log:
            pid = subprocess.Popen(
                [sys.executable, osp.abspath(__file__), '--child',
                 section.name, ctx_path], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True).pid
    else:
        pid = os.fork()
        if pid == 0:  # child
            os.setsid()
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            # Python's streams too, wherever the parent pointed them.
            sys.stdout = open(1, 'w', buffering=1, closefd=False)
            sys.stderr = open(2, 'w', buffering=1, closefd=False)
            ctx.deadline, ctx.log_path = deadline, log_path
            try:
                section_body(section, ctx, result_path)
            finally:
                os._exit(0)
    timed_out = False
    exit_status = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            exit_status = status
            break
        if time.time() > deadline:
            timed_out = True
            break
        time.sleep(0.1)
    # The child's process group: it, and what it started (data loader
    # workers, compile workers, torchrun).
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if timed_out:
        _, exit_status = os.waitpid(pid, 0)
    record = {}
    if osp.isfile(result_path):
        with open(result_path) as f:
            record = json.load(f)
    record['seconds'] = round(time.time() - start, 1)
    if timed_out:
        record['status'] = 'timed out'
        record['error'] = (f'stopped after {cap:g} s (its time box) or at '
                           'the end of the budget')
    elif 'status' not in record:
        record['status'] = 'crashed'
        record['error'] = f'the child process ended with status ' \
                          f'{exit_status} before recording a result'
    if record['status'] != 'ok':
        record['log_tail'] = tail(log_path)
    with open(ctx.log_file, 'a') as log, open(log_path,
                                               errors='replace') as child:
        log.write(f'\n===== {section.name}: {record["status"]} '
                  f'({record["seconds"]} s) =====\n')
        log.write(child.read())
    return record


def fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return ''
        return f'{value:.0f}' if abs(value) >= 1000 else f'{value:.3g}'
    return str(value).replace('|', '\\|').replace('\n', ' ')


def table(rows: List[dict], columns: List[str]) -> str:
    lines = ['| ' + ' | '.join(columns) + ' |',
             '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(fmt(r.get(c, '')) for c in columns) + ' |'
              for r in rows]
    return '\n'.join(lines)


def render(ctx, results: Dict[str, dict], running: Optional[str]) -> str:
    now = time.time()
    mode = ('--cpu-tiny: tiny models on the CPU, fp32, 1 timed step, 2 '
            'training iterations, no torch.compile (a test of the script, '
            'not a measurement)'
            if ctx.tiny else 'GPU, bf16 autocast with bf16 frozen teachers')
    lines = ['# mmivnext GPU readiness check', '',
             f'- Started {ctx.started_utc} UTC; {now - ctx.t0:.0f} s of a '
             f'{ctx.budget:.0f} s budget used'
             f'{"; now running: " + running if running else "; finished"}.',
             f'- Mode: {mode}.',
             f'- Command: `{ctx.command}`', '']
    lines += [f'- {note}' for note in getattr(ctx, 'notes', [])]
    env = results.get('environment', {})
    if env.get('device'):
        lines += [f'- Device: {env["device"]}; CUDA {env.get("cuda", "-")}, '
                  f'cuDNN {env.get("cudnn", "-")}; Python '
                  f'{env.get("python")}.']
    lines += ['', '## Sections', '',
              table([dict(section=f'`{s.name}`', title=s.title,
                          status=results.get(s.name, {}).get(
                              'status', 'running' if s.name == running
                              else 'not run yet'),
                          seconds=results.get(s.name, {}).get('seconds', ''),
                          note=last_line(results.get(s.name, {}).get(
                              'error', '')))
                     for s in ctx.sections],
                    ['section', 'title', 'status', 'seconds', 'note']),
              '']
    lines += ['## Install', '', f'{ctx.install_status}', '']
    if env.get('versions'):
        lines += ['## Environment', '',
                  ', '.join(f'{k} {v}' for k, v in env['versions'].items())
                  + f'; cv2 {env.get("cv2")}; mmivnext imported from '
                  f'`{env.get("mmivnext_path")}`.', '']
    if env.get('peaks'):
        peaks = ', '.join(f'{k}^3: {v / 1e12:.1f} TFLOP/s'
                          for k, v in env['peaks'].items())
        lines += [f'{env["peak_dtype"]} `torch.mm` peak (best of the '
                  f'timed products): {peaks}. MFU below divides by the best, '
                  f'{env["peak_flops"] / 1e12:.1f} TFLOP/s.', '']
    sdpa = results.get('sdpa', {}).get('rows')
    if sdpa:
        lines += ['## SDPA kernels', '',
                  'The kernel PyTorch chose (profiler) and the time of a '
                  'forward with each kernel alone:', '',
                  table(sdpa, list(sdpa[0].keys())), '']
    rows = [row for s in ctx.sections if s.name in results
            for row in results[s.name].get('rows', []) if 'variant' in row]
    if rows:
        lines += ['## Train steps', '',
                  'Largest batch that fits (search: doubling, then '
                  'bisection), median of the timed steps; TFLOP from '
                  '`mmivnext/utils/flops.py` (model FLOPs: activation '
                  'checkpointing\'s recomputation not counted); MFU against '
                  'the matmul peak above; peak = `max_memory_allocated`. '
                  'Compiled variants run at the batch of the eager run.', '',
                  table(rows, ['model', 'variant', 'batch', 'clips/s',
                               'TFLOP/s', 'MFU %', 'peak GiB', 'step s',
                               'first step s', 'TFLOP/step', 'search']), '']
        ops = [row for row in rows if row.get('SDPA kernels')]
        if ops:
            lines += ['Attention kernels that ran in one step (profiler):',
                      '', table(ops, ['model', 'variant', 'SDPA kernels']),
                      '']
    for name, title in (('train', 'tools/train.py --amp'),
                        ('fsdp', 'One-GPU FSDP')):
        rec = results.get(name, {})
        if rec.get('command'):
            lines += [f'## {title}', '', f'`{rec["command"]}`', '']
            if 'iterations' in rec:
                lines += [f'{rec["iterations"]} iterations in '
                          f'{rec["seconds"]} s (start-up included); loss '
                          f'{fmt(rec["first_loss"])} at the first log, '
                          f'{fmt(rec["last_loss"])} at the last; '
                          f'{fmt(rec.get("s_per_iter") or "-")} s per '
                          f'iteration; memory '
                          f'{fmt(rec.get("memory_mb") or "n/a")} MB.', '']
    failures = [(s, results[s.name]) for s in ctx.sections
                if results.get(s.name, {}).get('status') not in (
                    None, 'ok', 'skipped')]
    errors = [(s, row) for s in ctx.sections
              for row in results.get(s.name, {}).get('rows', [])
              if row.get('error')]
    if failures or errors:
        lines += ['## Failures', '']
        for s, rec in failures:
            lines += [f'### `{s.name}`: {rec["status"]}', '', '```',
                      '\n'.join(str(rec.get('error', '')).strip()
                                .splitlines()[-LOG_TAIL:]), '```', '']
            if rec.get('log_tail'):
                lines += ['Log tail:', '', '```', rec['log_tail'].rstrip(),
                          '```', '']
        for s, row in errors:
            lines += [f'### `{s.name}`, {row.get("variant")}', '', '```',
                      '\n'.join(row['error'].strip().splitlines()
                                [-LOG_TAIL:]), '```', '']
    return '\n'.join(lines) + '\n'


def shown_args(argv: List[str]) -> List[str]:
    """The command-line arguments without ``--install-status``'s text."""
    shown, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == '--install-status':
            skip = True
        elif not arg.startswith('--install-status='):
            shown.append(arg)
    return shown


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', required=True,
                        help='report.md, results.json and gpu_check.log')
    parser.add_argument('--work-dir', default=None,
                        help='scratch: section logs, train runs, videos '
                        '(default: $TMPDIR/mmivnext_gpu_check)')
    parser.add_argument('--cache-dir', default=None,
                        help='random checkpoints (default: '
                        'bench_train_step.py\'s)')
    parser.add_argument('--budget', type=float, default=420,
                        help='seconds for all sections (default: 420)')
    parser.add_argument('--cpu-tiny', action='store_true',
                        default=os.environ.get('GPU_CHECK_TINY') == '1',
                        help='tiny sizes on the CPU (also GPU_CHECK_TINY=1)')
    parser.add_argument('--sections', nargs='+', default=None,
                        choices=[s.name for s in SECTIONS],
                        help='run only these (default: all)')
    parser.add_argument('--max-batch', type=int, default=None,
                        help='largest batch the search tries (default: '
                        '512; 2 with --cpu-tiny)')
    parser.add_argument('--simulate-oom-above', type=int, default=None,
                        help='raise an out-of-memory error for larger '
                        'batches (default: 1 with --cpu-tiny, else none)')
    parser.add_argument('--isolation', choices=('fork', 'exec'),
                        default='fork',
                        help='run sections in forked children (default) or '
                        'fresh interpreters (slower: each imports again)')
    parser.add_argument('--install-status', default='Not run by '
                        'gpu_check.sh: nothing installed.',
                        help='Markdown for the report\'s Install section')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['--child']:
        child_main(*argv[1:])
        return 0
    args = parse_args(argv)
    ctx = argparse.Namespace(
        t0=time.time(), budget=args.budget, tiny=args.cpu_tiny,
        started_utc=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M'),
        command=' '.join([osp.relpath(__file__, ROOT)] + shown_args(argv)),
        install_status=args.install_status)
    ctx.end = ctx.t0 + args.budget
    ctx.iters = 1 if ctx.tiny else 2
    ctx.train_iters = 2 if ctx.tiny else 20
    ctx.train_batch = 2 if ctx.tiny else 8
    ctx.max_batch = args.max_batch or (2 if ctx.tiny else 512)
    ctx.simulate_oom_above = args.simulate_oom_above if \
        args.simulate_oom_above is not None else (1 if ctx.tiny else None)
    out_dir = osp.abspath(args.out_dir)
    ctx.work_dir = osp.abspath(args.work_dir or osp.join(
        tempfile.gettempdir(), 'mmivnext_gpu_check'))
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(ctx.work_dir, exist_ok=True)
    ctx.videos = osp.join(ctx.work_dir, 'videos')
    ctx.demo_models = osp.join(ctx.work_dir, 'demo_models')
    ctx.log_file = osp.join(out_dir, 'gpu_check.log')
    open(ctx.log_file, 'w').close()
    ctx.sections = [s for s in SECTIONS
                    if not args.sections or s.name in args.sections]
    results: Dict[str, dict] = {}
    ctx.results, ctx.peak = results, None

    def write(running=None):
        write_atomic(osp.join(out_dir, 'report.md'),
                     render(ctx, results, running))
        write_atomic(osp.join(out_dir, 'results.json'),
                     json.dumps(results, indent=1, default=str))

    # Import once here: the forked sections share the modules (and a failed
    # import shows as each section's error).
    sys.path.insert(0, BENCH_DIR)
    # bench_train_step.py's default, where its random checkpoints are kept.
    ctx.cache_dir = args.cache_dir or osp.join(tempfile.gettempdir(),
                                               'mmivnext_bench_models')
    ctx.device = 'cpu' if ctx.tiny else 'cuda'
    ctx.isolation, ctx.notes = args.isolation, []
    try:
        import torch
        import bench_train_step  # noqa: F401
        import common  # noqa: F401
    except Exception:  # noqa: B902
        # Each section meets the error again and records it.
        ctx.notes.append('Importing the libraries failed: '
                         + last_line(traceback.format_exc()))
        traceback.print_exc()
    else:
        if ctx.isolation == 'fork' and not ctx.tiny and \
                not cuda_survives_fork():
            ctx.isolation = 'exec'
            ctx.notes.append('CUDA did not start in a forked process: the '
                             'sections ran in fresh interpreters.')
    for note in ctx.notes:
        print(note, flush=True)
    print(f'GPU readiness check: {len(ctx.sections)} sections, budget '
          f'{args.budget:.0f} s; report: {out_dir}/report.md', flush=True)
    for section in ctx.sections:
        left = ctx.end - time.time()
        if left < 5:
            results[section.name] = dict(
                status='skipped', seconds=0,
                error='the time budget was used up before it started')
        elif ctx.tiny and section.name.endswith('_compile'):
            results[section.name] = dict(
                status='skipped', seconds=0,
                error='--cpu-tiny runs no torch.compile')
        elif ctx.tiny and section.name == 's1_vitl':
            results[section.name] = dict(
                status='skipped', seconds=0,
                error='--cpu-tiny: at tiny size the same model as s1_vitb')
        else:
            write(running=section.name)
            results[section.name] = run_section(section, ctx)
            if section.name == 'environment':
                ctx.peak = results['environment'].get('peak_flops')
        rec = results[section.name]
        print(f'[{time.time() - ctx.t0:6.1f} s] {section.name}: '
              f'{rec["status"]} ({rec["seconds"]} s)', flush=True)
        write()
    write()
    failed = [n for n, r in results.items()
              if r['status'] not in ('ok', 'skipped')]
    print(f'Done in {time.time() - ctx.t0:.0f} s: '
          f'{len(results) - len(failed)} of {len(results)} sections ok or '
          f'skipped; report: {out_dir}/report.md', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
