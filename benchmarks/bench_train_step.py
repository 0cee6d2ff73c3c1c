"""A full Stage-1 or Stage-2 train step: time per part and achieved FLOP/s.

Builds the algorithm from the repo's configs, at ``--size tiny`` (the demo
configs: ViT 96 x 4 student, tiny SigLIP / ModernBERT) or ``--size base``
(configs/ivnext/stage{1,2}_vitb.py: ViT-B/14 student, SigLIP2-1B-sized
teacher, the last 5 layers of a ModernBERT-Large-sized predictor). No
weights can be downloaded here: the teacher and the predictor are random
models of the real architecture written to ``--cache-dir`` once (about 6 GB
for ``base``), and Stage 2's frozen teacher is a random Stage-1 encoder.
Random weights time the same as trained ones.

Inputs are random normalised clips of the configured size (the data
pipeline is ``bench_data_pipeline.py``'s subject). The table splits one step
into teacher, masker, encoder, predictor, heads (with the losses) and
optimizer (clip + AdamW + zero_grad), forward and backward, using
:class:`mmivnext.utils.step_profiler.StepProfiler`; FLOPs come from
:mod:`mmivnext.utils.flops` (analytic, documented there) and are compared
with a ``torch.mm`` peak measured in the same run. A plain step (no
profiler) is timed too: its clips/s is the throughput figure.

Examples::

    python benchmarks/bench_train_step.py --stage 1 --size tiny
    python benchmarks/bench_train_step.py --stage 2 --size base --batch 1 \\
        --warmup 1 --iters 2
    # the predictor's local layers, dense masked SDPA vs the blocked kernel
    python benchmarks/bench_train_step.py --stage 2 --size base --warmup 0 \
        --iters 1 --local-attn-kernels dense blocked
    # on a GPU: bf16 autocast with bf16 teachers, as the configs train
    python benchmarks/bench_train_step.py --stage 1 --size base --batch 32 \\
        --amp --device cuda
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
from typing import Dict, List, Optional

import mmivnext  # noqa: F401  (applies the upstream fixes first)
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from transformers.utils import logging as hf_logging

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import (add_common_args, environment, format_table,  # noqa: E402
                    matmul_peak, median, setup, synchronize, time_fn)

from mmivnext.models.maskers import MaskIndices  # noqa: E402
from mmivnext.registry import MODELS  # noqa: E402
from mmivnext.testing import (make_demo_models,  # noqa: E402
                              save_tiny_modernbert, save_tiny_siglip)
from mmivnext.utils import flops  # noqa: E402
from mmivnext.utils.step_profiler import StepProfiler  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    (1, 'tiny'): 'configs/ivnext/demo/'
    'ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py',
    (2, 'tiny'): 'configs/ivnext/demo/'
    'ivnext-stage2_vit-tiny-p14_1xb8-16x1x1-1e_demo-videos.py',
    (1, 'base'): 'configs/ivnext/stage1_vitb.py',
    (2, 'base'): 'configs/ivnext/stage2_vitb.py',
    (1, 'large'): 'configs/ivnext/stage1_vitl.py',
    (2, 'large'): 'configs/ivnext/stage2_vitl.py',
}
#: Architectures of the released models the base configs name, written with
#: random weights (sizes from their published configs).
SIGLIP2_GIANT_OPT = dict(hidden_size=1536, num_layers=40, num_heads=16,
                         intermediate_size=6144, image_size=256,
                         patch_size=16)
MODERNBERT_LARGE = dict(hidden_size=1024, num_layers=28, num_heads=16,
                        intermediate_size=2624, local_attention=128)
PARTS = ('teacher', 'masker', 'encoder', 'predictor', 'heads', 'optimizer')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stage', type=int, choices=(1, 2), default=1)
    parser.add_argument('--size', choices=('tiny', 'base', 'large'),
                        default='tiny')
    parser.add_argument('--batch', type=int, default=None,
                        help='clips per step (default: 8 tiny, 1 base)')
    parser.add_argument('--amp', action='store_true',
                        help='bf16 autocast and bf16 teachers (GPU path)')
    parser.add_argument('--with-cp', action='store_true',
                        help='activation checkpointing of encoder and '
                        'predictor blocks')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the student encoder (inductor)')
    parser.add_argument('--sdpa-backends', nargs='+', default=None,
                        help='restrict SDPA kernels, e.g. math')
    parser.add_argument('--local-attn-kernels', nargs='+', default=None,
                        choices=('dense', 'blocked', 'flex'),
                        help='instead of the per-part table, time plain '
                        'steps of the same model and clips with each of '
                        'these kernels of the predictor\'s local layers, '
                        'in turn; ratios against the first')
    parser.add_argument('--flops-only', action='store_true',
                        help='count the FLOPs of a step per clip (one '
                        'forward on the meta device) and exit; no timing')
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='with --flops-only: a device peak (e.g. 790 '
                        'for an H200 in dense bf16) to convert into clips/s')
    parser.add_argument('--cache-dir', default=osp.join(
        tempfile.gettempdir(), 'mmivnext_bench_models'),
        help='where the random teacher / predictor checkpoints are kept')
    add_common_args(parser)
    return parser.parse_args(argv)


def _save_once(path: str, save) -> str:
    """``save(path)`` unless a previous run completed it (written to a
    temporary name and renamed, so an interrupted write is redone)."""
    if not osp.isdir(path):
        tmp = f'{path}.partial'
        shutil.rmtree(tmp, ignore_errors=True)
        save(tmp)
        os.replace(tmp, path)
    return path


def build_model_cfg(stage: int, size: str, cache_dir: str, amp: bool):
    """The config's model, pointed at locally written random checkpoints."""
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[(stage, size)]))
    model = cfg.model
    os.makedirs(cache_dir, exist_ok=True)
    if size == 'tiny':
        demo = make_demo_models(osp.join(cache_dir, 'demo'))
        teacher_dir, predictor_dir = demo['teacher'], demo['predictor']
    else:
        teacher_dir = _save_once(
            osp.join(cache_dir, 'siglip2-giant-opt-random'),
            lambda p: save_tiny_siglip(p, **SIGLIP2_GIANT_OPT))
        predictor_dir = _save_once(
            osp.join(cache_dir, 'modernbert-large-random'),
            lambda p: save_tiny_modernbert(p, **MODERNBERT_LARGE))
    model.predictor.pretrained = predictor_dir
    if stage == 1:
        model.teacher.pretrained = teacher_dir
    else:
        # Stage 2 starts from a Stage-1 run: a random Stage-1 encoder here.
        path = osp.join(cache_dir, f'stage1-encoder-{size}.pth')
        if not osp.isfile(path):
            with DefaultScope.overwrite_default_scope('mmivnext'):
                encoder = MODELS.build(
                    dict(model.teacher.backbone, init_cfg=None))
            torch.save(dict(state_dict={
                f'backbone.{k}': v for k, v in encoder.state_dict().items()
            }), path + '.partial')
            os.replace(path + '.partial', path)
        model.teacher.checkpoint = path
        model.init_checkpoint = None
    # bf16 teachers are a GPU setting (CPUs run bf16 matmuls slowly).
    model.teacher.dtype = 'bfloat16' if amp else 'float32'
    return cfg


def build(args, device):
    cfg = build_model_cfg(args.stage, args.size, args.cache_dir, args.amp)
    model_cfg = cfg.model
    if args.with_cp:
        model_cfg.backbone.with_cp = True
        model_cfg.predictor.with_cp = True
    if args.compile:
        model_cfg.compile_encoder = True
    if args.sdpa_backends:
        model_cfg.sdpa_backends = args.sdpa_backends
    with DefaultScope.overwrite_default_scope('mmivnext'):
        model = MODELS.build(model_cfg)
        model.init_weights()
        model.to(device)
        wrapper_cfg = dict(cfg.optim_wrapper)
        if args.amp:
            wrapper_cfg.update(type='mmivnext.AnyDeviceAmpOptimWrapper',
                               dtype='bfloat16')
        else:
            wrapper_cfg.update(type='mmivnext.SyncFreeOptimWrapper')
            wrapper_cfg.pop('dtype', None)
        optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    backbone = model.backbone
    batch = args.batch or (8 if args.size == 'tiny' else 1)
    if args.flops_only:
        batch = 1
    # The clips of the config's data pipeline (the encoder's position table
    # may be made for another frame count and is interpolated).
    frames = next(t['clip_len'] for t in cfg.train_dataloader.dataset.pipeline
                  if t['type'].endswith('UniformSample'))
    height = backbone.grid_size[1] * backbone.patch_size
    width = backbone.grid_size[2] * backbone.patch_size
    clips = torch.randn(batch, 3, frames, height, width, device=device)
    return model, optim_wrapper, clips


def part_flops(model, stage: int, clips: torch.Tensor,
               masks: List[MaskIndices]) -> Dict[str, float]:
    """FLOPs of each part in one step (forward + backward where trained)."""
    batch, _, frames = clips.shape[:3]
    backbone = model.backbone
    N = masks[0].visible.shape[1] + masks[0].masked.shape[1]
    T = flops.TRAIN_FACTOR
    out = dict.fromkeys(PARTS, 0.)
    if stage == 1:
        teacher = model.teacher
        side = teacher.image_size // teacher.patch_size
        out['teacher'] = flops.siglip_flops(teacher.vision_model, frames,
                                            side * side)
    else:
        out['teacher'] = flops.vit3d_flops(model.teacher.encoder, N)
    for mask in masks:
        K, M = mask.visible.shape[1], mask.masked.shape[1]
        out['encoder'] += flops.vit3d_train_flops(backbone, N, K)
        if model.predictor is not None:
            out['predictor'] += T * flops.predictor_flops(model.predictor, N)
        if stage == 1:
            if model.pixel_head is not None:
                mul = getattr(getattr(model.pixel_head, 'loss_module', None),
                              'diffusion_batch_mul', 1)
                out['heads'] += T * flops.tokenwise_flops(
                    model.pixel_head, M * mul)
            if model.align_head is not None:
                out['heads'] += T * flops.tokenwise_flops(model.align_head, K)
            if model.global_align_head is not None:
                out['heads'] += T * (flops.attention_pooling_flops(
                    backbone.projector, backbone.num_cls_tokens + K)
                    + flops.tokenwise_flops(model.global_align_head, 1))
        else:
            out['heads'] += T * flops.tokenwise_flops(model.head, M)
    return {k: v * batch for k, v in out.items()}


def run(args) -> Dict[str, object]:
    device = setup(args)
    # Keep the table readable: no per-parameter init logs, no progress bars.
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    model, optim_wrapper, clips = build(args, device)
    model.train()

    def plain_step():
        with optim_wrapper.optim_context(model):
            losses = model(clips, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    start = time.perf_counter()
    plain = time_fn(plain_step, device, args.warmup, args.iters)
    first_ms = (time.perf_counter() - start) * 1e3

    parts = dict(teacher=model.teacher, masker=model.masker,
                 encoder=model.backbone)
    if getattr(model, 'predictor', None) is not None:
        parts['predictor'] = model.predictor
    recorded = []
    record = model.masker.register_forward_hook(
        lambda module, args_, output: recorded.append(output))
    profiler = StepProfiler(parts, device)
    totals = {name: dict(forward=[], backward=[]) for name in PARTS}
    # One profiler context for all steps: a compiled encoder recompiles
    # when its hooks change; the first step compiles with them.
    with profiler:
        for i in range(args.warmup + args.iters):
            profiler.reset()
            recorded.clear()
            synchronize(device)
            start = time.perf_counter()
            with optim_wrapper.optim_context(model):
                losses = model(clips, mode='loss')
            loss, _ = model.parse_losses(losses)
            synchronize(device)
            forward = time.perf_counter() - start
            profiler.backward(loss)
            start = time.perf_counter()
            optim_wrapper.step()
            optim_wrapper.zero_grad()
            synchronize(device)
            optimizer = time.perf_counter() - start
            if i < args.warmup:
                continue
            times = profiler.times
            heads_fwd = forward - sum(times[p]['forward'] for p in parts)
            for name in PARTS:
                if name == 'heads':
                    fwd, bwd = heads_fwd, times['rest']['backward']
                elif name == 'optimizer':
                    fwd, bwd = float('nan'), optimizer
                else:
                    fwd = times[name]['forward']
                    bwd = times[name]['backward']
                totals[name]['forward'].append(fwd)
                totals[name]['backward'].append(bwd)
    record.remove()
    step_flops = part_flops(model, args.stage, clips, recorded[0])
    peak_dtype = torch.bfloat16 if args.amp else torch.float32
    peak = matmul_peak(device, peak_dtype, size=args.peak_size)
    plain_s = median(plain)

    rows = []
    profiled_total = 0.
    for name in PARTS:
        fwd = median(totals[name]['forward'])
        bwd = median(totals[name]['backward'])
        seconds = bwd if name == 'optimizer' else fwd + bwd
        profiled_total += seconds
        gflop = step_flops[name] / 1e9
        rows.append({
            'part': name,
            'fwd ms': '' if name == 'optimizer' else fwd * 1e3,
            'bwd ms': '' if name == 'optimizer' else bwd * 1e3,
            'ms': seconds * 1e3,
            'share %': 0.,
            'GFLOP': gflop,
            'GFLOP/s': gflop / seconds if seconds > 0 else 0.,
            '% of mm peak': 100 * step_flops[name] / seconds / peak
            if seconds > 0 else 0.,
        })
    for row in rows:
        row['share %'] = 100 * row['ms'] / 1e3 / profiled_total
    total_flops = sum(step_flops.values())
    rows.append({
        'part': 'step (profiled)', 'fwd ms': '', 'bwd ms': '',
        'ms': profiled_total * 1e3, 'share %': 100.,
        'GFLOP': total_flops / 1e9,
        'GFLOP/s': total_flops / 1e9 / profiled_total,
        '% of mm peak': 100 * total_flops / profiled_total / peak})
    rows.append({
        'part': 'step (plain)', 'fwd ms': '', 'bwd ms': '',
        'ms': plain_s * 1e3, 'share %': '',
        'GFLOP': total_flops / 1e9, 'GFLOP/s': total_flops / 1e9 / plain_s,
        '% of mm peak': 100 * total_flops / plain_s / peak})
    return dict(rows=rows, clips_per_s=clips.shape[0] / plain_s,
                mfu=total_flops / plain_s / peak, peak=peak,
                step_flops=step_flops, first_ms=first_ms,
                clip_shape=tuple(clips.shape))


def compare_local_attn_kernels(args) -> List[Dict[str, object]]:
    """Plain steps with each of ``args.local_attn_kernels`` in turn (step
    ``i`` draws the same masks and noise for every kernel); rows of median
    step times and their ratios to the first kernel's."""
    device = setup(args)
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    model, optim_wrapper, clips = build(args, device)
    model.train()
    if getattr(model, 'predictor', None) is None or not hasattr(
            model.predictor, 'local_attn_kernel'):
        raise SystemExit('--local-attn-kernels: this model has no '
                         'ModernBertPredictor')

    def plain_step():
        with optim_wrapper.optim_context(model):
            losses = model(clips, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    kernels = args.local_attn_kernels
    times = {kernel: [] for kernel in kernels}
    for i in range(args.warmup + args.iters):
        for kernel in kernels:
            model.predictor.local_attn_kernel = kernel
            torch.manual_seed(args.seed + i)
            seconds = time_fn(plain_step, device, 0, 1)[0]
            if i >= args.warmup:
                times[kernel].append(seconds)
    reference = median(times[kernels[0]])
    return [{'local attention': kernel, 'step ms': median(t) * 1e3,
             f'x {kernels[0]}': median(t) / reference,
             'steps ms': ' '.join(f'{x * 1e3:.0f}' for x in t)}
            for kernel, t in times.items()]


def count_flops(args) -> Dict[str, float]:
    """Per-clip FLOPs of each part: the model runs one forward on the meta
    device (shapes only) to draw the masks the counts need."""
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    hf_logging.disable_progress_bar()
    model, _, clips = build(args, torch.device('cpu'))
    model.to('meta')
    recorded = []
    model.masker.register_forward_hook(
        lambda module, args_, output: recorded.append(output))
    with torch.no_grad():
        model(clips.to('meta'), mode='loss')
    step_flops = part_flops(model, args.stage, clips, recorded[0])
    total = sum(step_flops.values())
    rows = [dict(part=name, **{'TFLOP per clip': value / 1e12,
                               'share %': 100 * value / total})
            for name, value in step_flops.items()]
    rows.append({'part': 'step', 'TFLOP per clip': total / 1e12,
                 'share %': 100.})
    _, _, frames, height, width = clips.shape
    print(f'# Stage {args.stage}, {args.size}: FLOPs of one train step per '
          f'clip of {frames} frames x {height}x{width} px (analytic, '
          f'mmivnext/utils/flops.py)')
    print(format_table(rows))
    if args.peak_tflops:
        rate = args.peak_tflops * 1e12 / total
        print(f'\nAt {args.peak_tflops:g} TFLOP/s: {rate:.1f} clips/s at '
              f'100 % MFU; 30 clips/s needs {100 * 30 / rate:.0f} % MFU.')
    return step_flops


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    args = parse_args(argv)
    if args.flops_only:
        return count_flops(args)
    if args.local_attn_kernels:
        rows = compare_local_attn_kernels(args)
        print(f'# Stage {args.stage} train step, {args.size}, batch '
              f'{args.batch or (8 if args.size == "tiny" else 1)}: the '
              f'predictor\'s local layers with each kernel')
        print(f'# {environment()}; {args.warmup} warmup + {args.iters} timed '
              f'steps per kernel, interleaved (medians)')
        print(format_table(rows))
        return rows
    result = run(args)
    batch, _, frames, height, width = result['clip_shape']
    print(f'# Stage {args.stage} train step, {args.size}: {batch} clips x '
          f'{frames} frames x {height}x{width} px, '
          f'{"bf16 autocast" if args.amp else "fp32"}'
          f'{", activation checkpointing" if args.with_cp else ""}'
          f'{", compiled encoder" if args.compile else ""}'
          f'{", SDPA " + "/".join(args.sdpa_backends) if args.sdpa_backends else ""}')  # noqa: E501
    print(f'# {environment()}; {args.warmup} warmup + {args.iters} timed '
          f'steps (medians)')
    print(f'# torch.mm peak ({"bf16" if args.amp else "fp32"}, '
          f'{args.peak_size}^3): '
          f'{result["peak"] / 1e9:.1f} GFLOP/s')
    print(format_table(result['rows']))
    print(f'\nThroughput {result["clips_per_s"]:.3g} clips/s, model FLOP '
          f'utilisation {100 * result["mfu"]:.1f} % of the torch.mm peak.')
    return result


if __name__ == '__main__':
    main()
