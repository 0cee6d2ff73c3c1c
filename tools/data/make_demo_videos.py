"""Write the synthetic demo video set (moving shapes, 12 classes) as mp4 files.

Example::

    python tools/data/make_demo_videos.py                      # data/demo_videos
    python tools/data/make_demo_videos.py --out-dir /tmp/demo --num-train 24

See :mod:`mmivnext.testing.demo_videos` for the classes and the layout.
"""
import argparse
import time

from mmivnext.testing.demo_videos import DEMO_CLASSES, make_demo_videos


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data/demo_videos',
                        help='folder to write (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=960,
                        help='training videos (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=240,
                        help='validation videos (default: %(default)s)')
    parser.add_argument('--num-frames', type=int, default=32,
                        help='frames per video (default: %(default)s)')
    parser.add_argument('--size', type=int, default=64,
                        help='height and width in pixels (default: %(default)s)')
    parser.add_argument('--fps', type=float, default=8.0,
                        help='frame rate of the files (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    paths = make_demo_videos(args.out_dir, num_train=args.num_train,
                             num_val=args.num_val, num_frames=args.num_frames,
                             size=args.size, fps=args.fps, seed=args.seed)
    print(f'Wrote {args.num_train} train and {args.num_val} val videos '
          f'({args.num_frames} frames, {args.size}x{args.size}, '
          f'{len(DEMO_CLASSES)} classes) to {paths["root"]} in '
          f'{time.time() - start:.1f} s: {paths["train_list"]}, '
          f'{paths["val_list"]}, {paths["classes_file"]}')


if __name__ == '__main__':
    main()
