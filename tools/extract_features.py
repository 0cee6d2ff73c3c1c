"""Extract encoder embeddings of videos: pooled vectors and/or token grids.

Examples::

    # an exported encoder (export_encoder.py), every video under a folder
    python tools/extract_features.py VIDEO_DIR OUT_DIR \\
        --encoder encoder.safetensors --pooled --tokens
    # a config's model.backbone + a runner checkpoint, an mmaction2 list
    python tools/extract_features.py val_list.txt OUT_DIR --data-root videos \\
        --config CONFIG --checkpoint CKPT --pooled cls --format npy
    # an image model of transformers, frame by frame (the zoo's SigLIP 2 /
    # DINO baselines: mmivnext.PerFrameImageEncoder)
    python tools/extract_features.py VIDEO_DIR OUT_DIR \\
        --image-encoder google/siglip2-large-patch16-256 --pooled --tokens
    # long videos: one feature per window of 32 frames every 16 frames (16
    # frames sampled per window), with its start/end frames and seconds;
    # decoded with PyAV; split over 4 processes, then merged
    for i in 0 1 2 3; do
        CUDA_VISIBLE_DEVICES=$i python tools/extract_features.py VIDEO_DIR \\
            OUT_DIR --encoder encoder.safetensors --pooled --window 32 \\
            --stride 16 --backend pyav --shard $i/4 &
    done; wait
    python tools/extract_features.py VIDEO_DIR OUT_DIR --merge

This is the command line of :func:`mmivnext.apis.extract_features`. The
inputs (a folder scanned recursively for ``--exts``, or an mmaction2 list
file whose paths are relative to ``--data-root``), the preprocessing, the
outputs, the encoders and unreadable videos (``--on-error``) are described in
:mod:`mmivnext.apis.feature_extraction`; the output files under ``OUT_DIR``,
the manifest that makes a rerun skip finished videos and redo incomplete
ones, the shard manifests and their merge, and the settings a rerun must
repeat, in :mod:`mmivnext.apis.feature_files`. ``--merge`` takes the same
video list (and ``--data-root`` / ``--exts``) and nothing else: the outputs
and their format are read from ``OUT_DIR``'s settings.

The tool shows a progress bar, prints the counts of extracted, already done
and failed videos, and lists the failed ones at the end. A file that cannot
be read safely ends it with ``error: <file>: <reason>``.
"""
import argparse
import json
import os
import os.path as osp

import mmivnext  # noqa: F401  (applies the upstream fixes before mmaction)
import torch
from tqdm import tqdm

from mmivnext.apis import (FORMATS, IMAGENET_MEAN, IMAGENET_STD, MANIFEST,
                           POOL_CHOICES, SETTINGS, VIDEO_EXTS, check_settings,
                           check_unique_stems, extract_features, list_videos,
                           load_config_encoder, load_exported_encoder,
                           load_image_encoder, merge_manifests, output_keys,
                           parse_shard, pending_videos, pipeline_cfg,
                           shard_manifest, shard_videos)
from mmivnext.datasets.transforms import VIDEO_BACKENDS
from mmivnext.utils.checkpoint_io import CheckpointLoadError


# ------------------------------------------------------------------ CLI ----
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract encoder embeddings (pooled and/or token grids) '
        'of videos, resumably.')
    parser.add_argument('videos', help='folder (scanned recursively) or '
                        'mmaction2 list file ("<path> [label]" per line)')
    parser.add_argument('out_dir', help='output folder (features, '
                        f'{MANIFEST}, {SETTINGS})')
    parser.add_argument('--data-root', help='folder the paths of a list file '
                        "are relative to (default: the list file's folder)")
    parser.add_argument('--exts', nargs='+', default=list(VIDEO_EXTS),
                        help='video suffixes taken from a folder')
    enc = parser.add_argument_group('encoder (--encoder, --config with '
                                    '--checkpoint, or --image-encoder)')
    enc.add_argument('--encoder', help='exported encoder X.safetensors '
                     '(export_encoder.py), with X.json beside it')
    enc.add_argument('--config', help='config whose model.backbone is the '
                     'encoder')
    enc.add_argument('--checkpoint', help='checkpoint of --config')
    enc.add_argument('--prefix', default='backbone.', help='encoder key '
                     "prefix in --checkpoint (default: 'backbone.')")
    enc.add_argument('--image-encoder', metavar='PRETRAINED',
                     help='a transformers image model (SigLIP / SigLIP 2 / '
                     'DINOv2 / DINOv3 hub id or local folder) run on every '
                     'frame (mmivnext.PerFrameImageEncoder)')
    enc.add_argument('--image-size', type=int, help='side of the frames the '
                     "image encoder sees (default: the checkpoint's)")
    pre = parser.add_argument_group('preprocessing')
    pre.add_argument('--backend', choices=VIDEO_BACKENDS, default='decord',
                     help='video decoder (mmivnext.VideoInit; default: '
                     'decord)')
    pre.add_argument('--decode-threads', type=int, default=1,
                     help='decoder threads per video, 0: FFmpeg chooses '
                     '(default: 1, one per DataLoader worker)')
    pre.add_argument('--window', type=int, help='one output per window of '
                     'this many frames (sliding windows; --num-frames '
                     'sampled from each), with its start/end frames and '
                     'seconds')
    pre.add_argument('--stride', type=int, help='frames between window '
                     'starts (default: --window)')
    pre.add_argument('--num-frames', type=int, default=16,
                     help='frames per clip (default: 16)')
    pre.add_argument('--frame-interval', type=int, help='sample frames this '
                     'far apart (SampleFrames); default: uniform sampling of '
                     'the whole video (UniformSample)')
    pre.add_argument('--num-clips', type=int, default=1, help='clips per '
                     'video, outputs averaged (default: 1)')
    pre.add_argument('--short-side', type=int, default=224,
                     help='resize the short side to this (default: 224)')
    pre.add_argument('--crop-size', type=int, default=224,
                     help='centre crop size (default: 224)')
    pre.add_argument('--mean', type=float, nargs=3, default=IMAGENET_MEAN,
                     help='RGB mean on 0-255 (default: ImageNet)')
    pre.add_argument('--std', type=float, nargs=3, default=IMAGENET_STD,
                     help='RGB std on 0-255 (default: ImageNet)')
    out = parser.add_argument_group('outputs')
    out.add_argument('--pooled', nargs='?', const='mean', choices=POOL_CHOICES,
                     help='save a pooled vector: mean of the patch tokens '
                     '(default when given alone), mean of the cls tokens, or '
                     'the encoder\'s projector')
    out.add_argument('--tokens', action='store_true',
                     help="save the patch-token grid [T', H', W', C]")
    out.add_argument('--format', choices=FORMATS, default='safetensors')
    out.add_argument('--on-error', choices=('raise', 'skip'), default='raise',
                     help='unreadable videos: raise (default), or record as '
                     'failed in the manifest and go on')
    run = parser.add_argument_group('running')
    run.add_argument('--device', default='cuda' if torch.cuda.is_available()
                     else 'cpu')
    run.add_argument('--batch-size', type=int, default=8,
                     help='videos per forward, or windows with --window '
                     '(default: 8)')
    run.add_argument('--num-workers', type=int, default=4,
                     help='DataLoader workers decoding videos (default: 4)')
    run.add_argument('--amp', action='store_true',
                     help='bf16 autocast (CUDA only); outputs stay float32')
    run.add_argument('--shard', metavar='I/N', help='extract every N-th '
                     'video from the I-th (0-based), appending to its own '
                     'manifest; --merge the shards at the end')
    run.add_argument('--merge', action='store_true',
                     help='merge the shard manifests of OUT_DIR into '
                     f'{MANIFEST} after checking that every video is there')
    args = parser.parse_args(argv)
    if args.merge:
        given = [f'--{k.replace("_", "-")}' for k, v in vars(args).items()
                 if k not in ('videos', 'out_dir', 'data_root', 'exts',
                              'merge') and v != parser.get_default(k)]
        if given:
            parser.error(f'--merge takes the video list, --data-root and '
                         f'--exts only (the rest is in {SETTINGS}); got '
                         f'{given}')
        return args
    if args.shard is not None:
        try:
            args.shard = parse_shard(args.shard)
        except ValueError as err:
            parser.error(str(err))
    sources = [args.encoder is not None,
               args.config is not None or args.checkpoint is not None,
               args.image_encoder is not None]
    if sum(sources) != 1:
        parser.error('give one encoder: --encoder, --config and --checkpoint, '
                     'or --image-encoder')
    if sources[1] and (args.config is None or args.checkpoint is None):
        parser.error('--config needs --checkpoint, and --checkpoint --config')
    if args.image_size is not None and not sources[2]:
        parser.error('--image-size is for --image-encoder')
    if sources[2] and args.pooled not in (None, 'mean'):
        parser.error(f'--pooled {args.pooled}: an image encoder gives the '
                     'mean of its patch tokens only (--pooled mean)')
    if args.pooled is None and not args.tokens:
        parser.error('nothing to save: give --pooled and/or --tokens')
    for name in ('num_frames', 'num_clips', 'short_side', 'crop_size',
                 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.frame_interval is not None and args.frame_interval < 1:
        parser.error('--frame-interval must be >= 1')
    for name in ('window', 'stride'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.stride is not None and args.window is None:
        parser.error('--stride needs --window')
    if args.window is not None and (args.frame_interval is not None or
                                    args.num_clips != 1):
        parser.error('--window takes one clip per window: it excludes '
                     '--frame-interval and --num-clips')
    if args.decode_threads < 0:
        parser.error('--decode-threads must be >= 0')
    if args.num_workers < 0:
        parser.error('--num-workers must be >= 0')
    return args


def main(argv=None) -> dict:
    """Run the extraction; returns the counts (``total``, ``done``,
    ``skipped`` as already done, ``failed``, ``redone`` as listed done but
    incomplete) and ``failed_videos``; with ``--merge``, those of
    :func:`~mmivnext.apis.merge_manifests`."""
    args = parse_args(argv)
    videos = list_videos(args.videos, args.data_root, args.exts)
    check_unique_stems(videos)
    if args.merge:
        return merge(args, videos)
    device = torch.device(args.device)
    if args.amp and device.type != 'cuda':
        raise SystemExit(f'error: --amp (bf16 autocast) is for CUDA devices, '
                         f'got --device {args.device}')
    pipeline = pipeline_cfg(args.num_frames, args.frame_interval,
                            args.num_clips, args.short_side, args.crop_size,
                            args.backend, args.decode_threads, args.window,
                            args.stride)
    os.makedirs(args.out_dir, exist_ok=True)
    check_settings(args.out_dir, dict(
        encoder=osp.abspath(args.encoder) if args.encoder else None,
        config=osp.abspath(args.config) if args.config else None,
        checkpoint=osp.abspath(args.checkpoint) if args.checkpoint else None,
        prefix=args.prefix if args.config else None,
        image_encoder=args.image_encoder, image_size=args.image_size,
        pipeline=pipeline, mean=list(args.mean), std=list(args.std),
        pooled=args.pooled, tokens=args.tokens, format=args.format,
        amp=args.amp))

    manifest = MANIFEST
    if args.shard is not None:
        manifest = shard_manifest(*args.shard)
        videos = shard_videos(videos, *args.shard)
    todo, redone = pending_videos(
        videos, args.out_dir,
        output_keys(args.pooled, args.tokens, args.window is not None),
        args.format)
    summary = dict(total=len(videos), skipped=len(videos) - len(todo),
                   done=0, failed=0, failed_videos=[], redone=redone)
    shard = '' if args.shard is None else ' (shard {}/{})'.format(*args.shard)
    print(f'{len(videos)} videos{shard}: {summary["skipped"]} already done, '
          f'{len(todo)} to extract into {args.out_dir}' +
          (f' (with {redone} listed as done whose outputs failed the '
           'check)' if redone else ''))
    if not todo:
        return summary

    try:
        if args.encoder:
            encoder = load_exported_encoder(args.encoder)
        elif args.image_encoder:
            encoder = load_image_encoder(args.image_encoder, args.mean,
                                         args.std, args.image_size)
        else:
            encoder = load_config_encoder(args.config, args.checkpoint,
                                          args.prefix)
    except (CheckpointLoadError, FileNotFoundError, ValueError,
            RuntimeError) as err:
        raise SystemExit(f'error: {err}') from err
    if args.pooled == 'projected' and encoder.projector is None:
        raise SystemExit('error: --pooled projected: the encoder has no '
                         'projector (projector_cfg)')

    with tqdm(total=len(todo), unit='video', desc='extract') as bar:

        def on_batch(num_videos, num_failed):
            bar.update(num_videos)
            bar.set_postfix(failed=num_failed)

        def on_failure(video, error):
            tqdm.write(f'failed: {video["filename"]}: {error}')

        summary.update(extract_features(
            todo, args.out_dir, encoder, pipeline, pooled=args.pooled,
            tokens=args.tokens, fmt=args.format, mean=args.mean,
            std=args.std, device=device, batch_size=args.batch_size,
            num_workers=args.num_workers, on_error=args.on_error,
            amp=args.amp, on_batch=on_batch, on_failure=on_failure,
            manifest=manifest))

    print(f'{summary["done"]} extracted, {summary["skipped"]} already done, '
          f'{summary["failed"]} failed; manifest: '
          f'{osp.join(args.out_dir, manifest)}')
    if summary['failed']:
        print('failed videos (see the manifest for the reasons):\n  ' +
              '\n  '.join(summary['failed_videos']))
    return summary


def merge(args, videos: list) -> dict:
    """``--merge``: the shard manifests into one, checked complete."""
    path = osp.join(args.out_dir, SETTINGS)
    if not osp.isfile(path):
        raise SystemExit(f'error: {path} does not exist: nothing was '
                         f'extracted into {args.out_dir}')
    with open(path) as f:
        settings = json.load(f)
    windowed = any(t['type'].split('.')[-1] == 'SampleSlidingWindows'
                   for t in settings['pipeline'])
    keys = output_keys(settings['pooled'], settings['tokens'], windowed)
    try:
        summary = merge_manifests(videos, args.out_dir, keys,
                                  settings['format'])
    except ValueError as err:
        raise SystemExit(f'error: {err}') from err
    print(f'merged {len(summary["shard_manifests"])} shard manifest(s) into '
          f'{osp.join(args.out_dir, MANIFEST)}: {summary["done"]} of '
          f'{summary["total"]} videos done, {summary["failed"]} failed')
    if summary['failed']:
        print('failed videos (see the manifest for the reasons):\n  ' +
              '\n  '.join(summary['failed_videos']))
    return summary


if __name__ == '__main__':
    main()
