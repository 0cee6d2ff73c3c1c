"""Write the synthetic video depth set (RGB + uint16 depth PNG sequences).

Example::

    python tools/data/make_synthetic_depth.py                 # data/synthetic_depth
    python tools/data/make_synthetic_depth.py --out-dir /tmp/depth --num-train 16

See :mod:`mmivnext.testing.synthetic_depth` for the scenes and
:mod:`mmivnext.datasets.video_depth_dataset` for the layout.
"""
import argparse
import time

from mmivnext.testing.synthetic_depth import make_synthetic_depth_sequences


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data/synthetic_depth',
                        help='folder to write (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=8,
                        help='training sequences (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=4,
                        help='validation sequences (default: %(default)s)')
    parser.add_argument('--num-frames', type=int, default=12,
                        help='frames per sequence (default: %(default)s)')
    parser.add_argument('--height', type=int, default=48,
                        help='frame height in pixels (default: %(default)s)')
    parser.add_argument('--width', type=int, default=64,
                        help='frame width in pixels (default: %(default)s)')
    parser.add_argument('--depth-scale', type=float, default=1000.,
                        help='stored value per metre (default: %(default)s)')
    parser.add_argument('--rgb-ext', default='.png', choices=['.png', '.jpg'],
                        help='RGB file type (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    paths = make_synthetic_depth_sequences(
        args.out_dir, num_train=args.num_train, num_val=args.num_val,
        num_frames=args.num_frames, size=(args.height, args.width),
        depth_scale=args.depth_scale, rgb_ext=args.rgb_ext, seed=args.seed)
    print(f'Wrote {args.num_train} train and {args.num_val} val sequences '
          f'({args.num_frames} frames, {args.height}x{args.width}, depth x '
          f'{args.depth_scale:g}) to {paths["root"]} in '
          f'{time.time() - start:.1f} s: {paths["train_list"]}, '
          f'{paths["val_list"]}')


if __name__ == '__main__':
    main()
