"""Write the synthetic EPIC-KITCHENS-100 look-alike for the anticipation probe.

Example::

    python tools/data/make_synthetic_ek100.py          # data/synthetic_ek100
    python tools/data/make_synthetic_ek100.py --out-dir /tmp/ek --num-train 8

See :mod:`mmivnext.testing.synthetic_ek100` for what the videos show and the
layout.
"""
import argparse
import time

from mmivnext.testing.synthetic_ek100 import make_synthetic_ek100


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data/synthetic_ek100',
                        help='folder to write (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=4,
                        help='training videos (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=2,
                        help='validation videos (default: %(default)s)')
    parser.add_argument('--events', type=int, default=4,
                        help='actions per video (default: %(default)s)')
    parser.add_argument('--size', type=int, default=56,
                        help='height and width in pixels (default: %(default)s)')
    parser.add_argument('--fps', type=float, default=8.0,
                        help='frame rate of the videos (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    paths = make_synthetic_ek100(
        args.out_dir, num_train_videos=args.num_train,
        num_val_videos=args.num_val, events_per_video=args.events,
        size=args.size, fps=args.fps, seed=args.seed)
    print(f'Wrote {args.num_train} train and {args.num_val} val videos with '
          f'{args.events} actions each to {paths["root"]} in '
          f'{time.time() - start:.1f} s: {paths["train_csv"]}, '
          f'{paths["val_csv"]}, {paths["actions_csv"]}')


if __name__ == '__main__':
    main()
