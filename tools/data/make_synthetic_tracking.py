"""Write the synthetic box-tracking set (moving shapes and their boxes).

Example::

    python tools/data/make_synthetic_tracking.py    # data/synthetic_tracking
    # then, for each split, the windows:
    python tools/data/build_tracking_windows.py \\
        data/synthetic_tracking/annotations_train.json \\
        data/synthetic_tracking/windows_train.json \\
        --target-fps 5 --resize-short 56 --crop-size 56

See :mod:`mmivnext.testing.synthetic_tracking` for what is drawn and the
layout.
"""
import argparse
import time

from mmivnext.testing.synthetic_tracking import make_synthetic_tracking


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data/synthetic_tracking',
                        help='folder to write (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=8,
                        help='training sequences (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=4,
                        help='validation sequences (default: %(default)s)')
    parser.add_argument('--num-frames', type=int, default=24,
                        help='frames per sequence (default: %(default)s)')
    parser.add_argument('--size', type=int, default=56,
                        help='height and width in pixels (default: '
                        '%(default)s)')
    parser.add_argument('--fps', type=float, default=5.0,
                        help='frame rate (default: %(default)s)')
    parser.add_argument('--max-objects', type=int, default=3,
                        help='most objects per sequence (default: '
                        '%(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    paths = make_synthetic_tracking(
        args.out_dir, num_train=args.num_train, num_val=args.num_val,
        num_frames=args.num_frames, size=args.size, fps=args.fps,
        max_objects=args.max_objects, seed=args.seed)
    print(f'Wrote {args.num_train} train and {args.num_val} val sequences '
          f'({args.num_frames} frames, {args.size}x{args.size}, up to '
          f'{args.max_objects} objects) to {paths["frames_root"]} in '
          f'{time.time() - start:.1f} s; per-frame boxes: '
          f'{paths["train_annotations"]}, {paths["val_annotations"]}')


if __name__ == '__main__':
    main()
