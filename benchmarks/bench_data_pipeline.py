"""Decoded and augmented clips per second of the Stage-1 data pipeline, per worker.

The pipeline is the ``train_pipeline`` of a dataset base config (default
``configs/_base_/datasets/k400_unlabeled.py``: ``mmivnext.VideoInit``, 16
frames by sparse sampling, multi-scale crop, resize to 224 px, flip, NCTHW,
pack), run once per video decoder of ``--backends`` (default: those that
import here, of decord, PyAV and torchcodec), loaded with
MMEngine's ``Config``, with its ``UnlabeledVideoDataset`` settings. The videos
are the synthetic demo set (moving shapes, ``mp4v``), written into a temporary
folder by :func:`mmivnext.testing.demo_videos.make_demo_videos` (the function
behind ``tools/data/make_demo_videos.py``) at ``--video-size`` pixels, or read
from ``--video-dir``.

Two measurements over ``--clips`` clips, each the median of ``--iters``
passes:

(a) in process, after ``--warmup`` untimed clips: the dataset's transforms
    applied one by one to ``dataset.get_data_info(i)``, timing each transform;
    the total is what one worker does per clip (the breakdown is that of the
    pass with the median total);
(b) a new ``torch.utils.data.DataLoader`` over the dataset with
    ``pseudo_collate`` (as MMEngine builds it) for each of ``--workers``: wall
    time from creating the iterator to the last clip, worker start-up
    included (the videos are in the page cache by then).

(c) the backends side by side: clips/s of (a) and per worker of (b), as
    ratios to the first backend.

OpenCV runs with ``--opencv-threads`` (0: no threading, MMEngine's default
``env_cfg``) and the decoder with the config's ``VideoInit`` threads (one), so
that a worker uses about one core. There is no ``--device``: the pipeline runs
on the CPU.

Example::

    python benchmarks/bench_data_pipeline.py --threads 2
"""
import argparse
import os.path as osp
import random
import sys
import tempfile
import time
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import mmivnext  # noqa: F401  (first: lets mmaction import on CPU)
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate, worker_init_fn
from mmengine.registry import DefaultScope

from common import environment, format_table, median
from mmivnext.datasets.transforms import (VIDEO_BACKENDS,
                                          available_video_backends)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                          'k400_unlabeled.py')
IN_PROCESS = 'in process (transform loop)'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; errors name the offending value."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='dataset config with train_pipeline and '
                             'train_dataloader.dataset')
    parser.add_argument('--frames', type=int, default=None,
                        help='frames per clip (default: the config\'s)')
    parser.add_argument('--img-size', type=int, default=None,
                        help='crop size (default: the config\'s)')
    parser.add_argument('--video-dir', default=None,
                        help='existing demo set (train.txt + train/); '
                             'default: write one into a temporary folder')
    parser.add_argument('--num-videos', type=int, default=8,
                        help='videos to write')
    parser.add_argument('--video-frames', type=int, default=250,
                        help='frames per written video (10 s at 25 fps)')
    parser.add_argument('--video-size', type=int, default=256,
                        help='height and width of the written videos')
    parser.add_argument('--clips', type=int, default=64,
                        help='timed clips per pass')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2],
                        help='DataLoader num_workers values to time')
    parser.add_argument('--batch', type=int, default=1,
                        help='DataLoader batch size')
    parser.add_argument('--opencv-threads', type=int, default=0,
                        help='cv2.setNumThreads (0: no threading)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed clips before each in-process pass')
    parser.add_argument('--iters', type=int, default=3,
                        help='timed passes (the table shows the median)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--backends', nargs='+', choices=VIDEO_BACKENDS,
                        default=None, help='video decoders to compare '
                        '(default: those that import here)')
    args = parser.parse_args(argv)
    if args.backends is None:
        args.backends = available_video_backends()
    unusable = sorted(set(args.backends) - set(available_video_backends()))
    if unusable:
        parser.error(f'--backends {unusable} cannot be imported here')

    for name in ('frames', 'img_size'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{value}')
    for name in ('num_videos', 'video_frames', 'clips', 'batch', 'iters'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    if any(w < 0 for w in args.workers):
        parser.error(f'--workers must be >= 0, got {args.workers}')
    if args.clips % args.batch:
        parser.error(f'--clips ({args.clips}) must be a multiple of --batch '
                     f'({args.batch})')
    if not osp.isfile(args.config):
        parser.error(f'--config {args.config!r} does not exist')
    if args.video_dir is not None and not osp.isfile(
            osp.join(args.video_dir, 'train.txt')):
        parser.error(f'--video-dir {args.video_dir!r} has no train.txt')
    return args


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy and torch (the transforms draw from the first
    two)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ pipeline
def load_pipeline_config(path: str, frames: Optional[int] = None,
                         img_size: Optional[int] = None,
                         backend: Optional[str] = None
                         ) -> Tuple[dict, List[dict]]:
    """The dataset settings and ``train_pipeline`` of a dataset config.

    ``frames`` / ``img_size`` replace the config's ``num_frames`` /
    ``img_size`` in the transforms that use them (``UniformSample.clip_len``,
    ``MultiScaleCrop.input_size``, ``Resize.scale``), as an inheriting config
    that rebuilds ``train_pipeline`` would.

    Args:
        path (str): Config file with ``train_pipeline`` and
            ``train_dataloader.dataset``.
        frames (int, optional): Frames per clip. None keeps the config's.
        img_size (int, optional): Crop size. None keeps the config's.
        backend (str, optional): Decoder of ``VideoInit``. None keeps the
            config's.

    Returns:
        tuple[dict, list[dict]]: The dataset config (``pipeline`` removed)
        and the pipeline, as plain dicts.

    Raises:
        ValueError: If the config lacks the keys, or a value is to be
            replaced but the transform using it is missing.
    """
    cfg = Config.fromfile(path)
    if 'train_pipeline' not in cfg or 'train_dataloader' not in cfg:
        raise ValueError(f'{path} has no train_pipeline / train_dataloader')
    pipeline = [dict(step) for step in cfg.to_dict()['train_pipeline']]
    dataset_cfg = cfg.to_dict()['train_dataloader']['dataset']
    dataset_cfg.pop('pipeline', None)

    def steps(name):
        found = [s for s in pipeline if s['type'].split('.')[-1] == name]
        if not found:
            raise ValueError(f'{path}: train_pipeline has no {name} to '
                             f'change; its steps are '
                             f'{[s["type"] for s in pipeline]}')
        return found

    if frames is not None:
        for step in steps('UniformSample'):
            step['clip_len'] = frames
    if img_size is not None:
        for step in steps('MultiScaleCrop'):
            step['input_size'] = img_size
        for step in steps('Resize'):
            step['scale'] = (img_size, img_size)
    if backend is not None:
        for step in steps('VideoInit'):
            step['backend'] = backend
    return dataset_cfg, pipeline


def build_dataset(dataset_cfg: dict, pipeline: List[dict], ann_file: str,
                  root: str):
    """Build the config's dataset over the list ``ann_file`` in ``root``."""
    from mmivnext.registry import DATASETS
    cfg = dict(dataset_cfg, ann_file=ann_file, data_prefix=dict(video=root),
               pipeline=pipeline)
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return DATASETS.build(cfg)


def transform_names(transforms: Sequence) -> List[str]:
    """Class names of the transforms, numbered where a name repeats."""
    names = [type(t).__name__ for t in transforms]
    return [f'{n} #{names[:i].count(n) + 1}' if names.count(n) > 1 else n
            for i, n in enumerate(names)]


# ----------------------------------------------------------------- measuring
def time_transforms(dataset, indices: Sequence[int]
                    ) -> Tuple[Dict[str, float], float, float]:
    """Apply the dataset's transforms to each sample of ``indices``.

    Returns:
        tuple[dict[str, float], float, float]: Seconds spent in each
        transform, in pipeline order; the wall time of the whole loop (sample
        info included); and the CPU time of the process (all its threads)
        over the loop.
    """
    transforms = dataset.pipeline.transforms
    names = transform_names(transforms)
    spent = dict.fromkeys(names, 0.)
    cpu_start = time.process_time()
    start = time.perf_counter()
    for index in indices:
        results = dataset.get_data_info(index)
        for name, transform in zip(names, transforms):
            t0 = time.perf_counter()
            results = transform(results)
            spent[name] += time.perf_counter() - t0
            if results is None:
                raise RuntimeError(f'{name} dropped sample {index}')
    wall = time.perf_counter() - start
    return spent, wall, time.process_time() - cpu_start


def time_loader(dataset, num_workers: int, clips: int, batch: int,
                seed: int) -> float:
    """Seconds for a new DataLoader with ``num_workers`` to yield ``clips``
    clips (cycling over the dataset), from creating its iterator to the last
    batch: worker start-up and the first clips are included."""
    indices = [i % len(dataset) for i in range(clips)]
    init_fn = partial(worker_init_fn, num_workers=num_workers, rank=0,
                      seed=seed) if num_workers else None
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=indices, num_workers=num_workers,
        collate_fn=pseudo_collate, persistent_workers=False,
        worker_init_fn=init_fn)
    seen = 0
    start = time.perf_counter()
    for data in loader:
        seen += len(data['inputs'])
    elapsed = time.perf_counter() - start
    if seen != clips:
        raise RuntimeError(f'the loader yielded {seen} clips, expected '
                           f'{clips}')
    return elapsed


def check_sample(sample: dict, frames: int, img_size: int) -> None:
    """Raise if a packed sample is not a ``[1, 3, T, S, S]`` uint8 clip."""
    shape = tuple(sample['inputs'].shape)
    expected = (1, 3, frames, img_size, img_size)
    if shape != expected or sample['inputs'].dtype != torch.uint8:
        raise AssertionError(f'the pipeline made a {shape} '
                             f'{sample["inputs"].dtype} clip, expected '
                             f'{expected} uint8')


def run(args: argparse.Namespace, root: str, ann_file: str,
        backend: Optional[str] = None
        ) -> Tuple[List[dict], List[dict], dict]:
    """Measure and return the two tables' rows and facts for the header,
    with the config's decoder or ``backend``."""
    dataset_cfg, pipeline = load_pipeline_config(args.config, args.frames,
                                                 args.img_size, backend)
    dataset = build_dataset(dataset_cfg, pipeline, ann_file, root)
    seed_everything(args.seed)
    sample = dataset[0]
    frames, img_size = (int(x) for x in sample['inputs'].shape[2:4])
    check_sample(sample, args.frames or frames, args.img_size or img_size)

    n = len(dataset)
    passes = []
    for p in range(args.iters):
        first = args.warmup + p * args.clips
        time_transforms(dataset, [i % n for i in range(args.warmup)])
        passes.append(time_transforms(
            dataset, [(first + i) % n for i in range(args.clips)]))
    # The median pass by wall time, with its own breakdown.
    spent, loop_s, cpu_s = sorted(passes, key=lambda p: p[1])[
        (len(passes) - 1) // 2]
    per_clip = {k: v / args.clips for k, v in spent.items()}
    other = loop_s / args.clips - sum(per_clip.values())
    breakdown = [{'step': k, 'ms/clip': 1e3 * v,
                  '% of total': 100. * v * args.clips / loop_s}
                 for k, v in per_clip.items()]
    breakdown.append({'step': 'other (get_data_info, loop)',
                      'ms/clip': 1e3 * other,
                      '% of total': 100. * other * args.clips / loop_s})
    base = args.clips / loop_s
    breakdown.append({'step': 'total (one worker)',
                      'ms/clip': 1e3 * loop_s / args.clips,
                      '% of total': 100., 'clips/s': base})

    loader_rows = [{'loader': IN_PROCESS, 'workers': 1, 'clips/s': base,
                    'clips/s per worker': base, 'ratio vs in-process': 1.,
                    'per-worker ratio': 1.}]
    for workers in args.workers:
        seconds = median([
            time_loader(dataset, workers, args.clips, args.batch, args.seed)
            for _ in range(args.iters)])
        speed = args.clips / seconds
        per_worker = speed / max(workers, 1)
        loader_rows.append({
            'loader': f'DataLoader num_workers={workers}',
            'workers': max(workers, 1), 'clips/s': speed,
            'clips/s per worker': per_worker,
            'ratio vs in-process': speed / base,
            'per-worker ratio': per_worker / base})
    facts = dict(frames=frames, img_size=img_size, videos=n,
                 cores=cpu_s / loop_s,
                 pipeline=' -> '.join(transform_names(
                     dataset.pipeline.transforms)))
    return breakdown, loader_rows, facts


def backend_rows(loader_rows: List[dict], workers: Sequence[int]
                 ) -> List[dict]:
    """Table (c): per backend, clips/s in process and per worker for each
    ``workers`` value, and the in-process ratio to the first backend."""
    rows, ref = [], None
    for backend in dict.fromkeys(r['backend'] for r in loader_rows):
        mine = [r for r in loader_rows if r['backend'] == backend]
        base = mine[0]['clips/s']  # the in-process row
        ref = base if ref is None else ref
        row = {'backend': backend, 'in process clips/s': base}
        for w, r in zip(workers, mine[1:]):
            row[f'num_workers={w} clips/s per worker'] = \
                r['clips/s per worker']
        row[f'ratio vs {loader_rows[0]["backend"]} (in process)'] = \
            base / ref
        rows.append(row)
    return rows


def main(argv: Optional[Sequence[str]] = None
         ) -> Tuple[List[dict], List[dict], List[dict]]:
    """Run the benchmark and print the settings and the three tables.

    Args:
        argv (Sequence[str], optional): Command-line arguments; None reads
            ``sys.argv``.

    Returns:
        tuple[list[dict], list[dict], list[dict]]: The rows of the
        per-transform tables, of the loader table (each with its
        ``backend``) and of the backend table.
    """
    import cv2
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(args.opencv_threads)
    seed_everything(args.seed)
    command = ' '.join(sys.argv[1:] if argv is None else argv)
    print(f'Command: python benchmarks/bench_data_pipeline.py {command}')

    breakdowns, loader_rows = {}, []
    with tempfile.TemporaryDirectory(prefix='bench_videos_') as tmp:
        if args.video_dir is None:
            from mmivnext.testing.demo_videos import make_demo_videos
            start = time.perf_counter()
            paths = make_demo_videos(
                tmp, num_train=args.num_videos, num_val=0,
                num_frames=args.video_frames, size=args.video_size, fps=25.,
                seed=args.seed)
            source = (f'{args.num_videos} demo videos of {args.video_frames} '
                      f'frames at {args.video_size}x{args.video_size} px '
                      f'(mp4v), written in '
                      f'{time.perf_counter() - start:.1f} s')
            root, ann_file = paths['root'], paths['train_list']
        else:
            root = args.video_dir
            ann_file = osp.join(root, 'train.txt')
            source = f'the videos listed in {ann_file}'
        try:
            for backend in args.backends:
                breakdown, rows, facts = run(args, root, ann_file, backend)
                breakdowns[backend] = breakdown
                loader_rows += [dict(r, backend=backend) for r in rows]
        finally:
            cv2.setNumThreads(cv2_threads)  # main() may run inside a test

    print(f'Settings: config={osp.relpath(args.config, REPO_ROOT)}, '
          f'clips of {facts["frames"]} frames at {facts["img_size"]} px from '
          f'{source}; {args.clips} timed clips per pass after '
          f'{args.warmup} warm-up clips, median of {args.iters} pass(es); '
          f'DataLoader batch {args.batch}, workers {args.workers}; '
          f'cv2 threads {args.opencv_threads}, seed {args.seed}; '
          f'video backends {args.backends}')
    print(f'Pipeline: {facts["pipeline"]}')
    print(f'Environment: {environment()}')
    for backend, breakdown in breakdowns.items():
        print()
        print(f'(a) One worker, in process: time per transform, backend '
              f'{backend}')
        print()
        print(format_table(breakdown,
                           ['step', 'ms/clip', '% of total', 'clips/s']))
    print()
    print(f'The in-process worker kept {facts["cores"]:.2f} cores busy '
          '(process CPU time / wall time of the median pass, last backend).')
    print()
    print('(b) DataLoader (pseudo_collate), wall time from iter() to the '
          'last clip')
    print()
    print(format_table(loader_rows, ['backend', 'loader', 'workers',
                                     'clips/s', 'clips/s per worker',
                                     'ratio vs in-process',
                                     'per-worker ratio']))
    print()
    print('Ratios are against the in-process loop of (a) of the same '
          'backend; num_workers=0 loads in the main process (one worker). '
          'Per-worker figures divide by the worker count; the main process '
          'also runs, so beyond the core count they fall.')
    rows = backend_rows(loader_rows, args.workers)
    print()
    print('(c) Video backends')
    print()
    print(format_table(rows))
    return ([dict(r, backend=b) for b, rs in breakdowns.items() for r in rs],
            loader_rows, rows)


if __name__ == '__main__':
    main()
