"""Build the 16-frame windows of the tracking probe from per-frame boxes.

Examples::

    # Waymo-style: 10 fps annotations of 1920x1280 frames -> 5 fps windows of
    # the 256x256 centre crop, and the cropped frames the windows use.
    python tools/data/build_tracking_windows.py \\
        data/waymo_tracking/annotations_val.json \\
        data/waymo_tracking/windows_val.json \\
        --src-frames data/waymo_tracking/raw_frames \\
        --dst-frames data/waymo_tracking/frames

    # The synthetic set (56x56 frames at 5 fps, already cropped).
    python tools/data/build_tracking_windows.py \\
        data/synthetic_tracking/annotations_train.json \\
        data/synthetic_tracking/windows_train.json \\
        --target-fps 5 --resize-short 56 --crop-size 56

See :mod:`mmivnext.datasets.tracking_windows` for the formats and the rules;
the defaults are the paper's (appendix A.4) and our choice of 256 px.
"""
import argparse
import time

from mmivnext.datasets.tracking_windows import (DEFAULT_FRAME_TMPL,
                                                REJECT_REASONS, WindowRules,
                                                build_windows,
                                                load_frame_annotations,
                                                write_cropped_frames,
                                                write_windows)


def parse_args(argv=None):
    defaults = WindowRules()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('annotations', help='per-frame annotation file (JSON)')
    parser.add_argument('out', help='windows file to write (JSON)')
    rules = parser.add_argument_group('window rules')
    rules.add_argument('--window-length', type=int,
                       default=defaults.window_length,
                       help='frames per window (default: %(default)s)')
    rules.add_argument('--target-fps', type=float, default=defaults.target_fps,
                       help='frame rate of the windows (default: '
                       '%(default)s)')
    rules.add_argument('--resize-short', type=int,
                       default=defaults.resize_short,
                       help='short side of the resized frame (default: '
                       '%(default)s)')
    rules.add_argument('--crop-size', type=int, nargs='+',
                       default=list(defaults.crop_size), metavar='S',
                       help='centre crop: S, or W H (default: 256 256)')
    rules.add_argument('--min-box-area-ratio', type=float,
                       default=defaults.min_box_area_ratio,
                       help='drop boxes under this fraction of the crop area '
                       '(default: %(default)s)')
    rules.add_argument('--min-start-gap', type=int,
                       default=defaults.min_start_gap,
                       help='least frames between window starts (default: '
                       '%(default)s)')
    rules.add_argument('--min-objects', type=int, default=defaults.min_objects,
                       help='least first-frame objects (default: %(default)s)')
    rules.add_argument('--max-objects', type=int, default=defaults.max_objects,
                       help='most first-frame objects (default: %(default)s)')
    rules.add_argument('--min-presence-ratio', type=float,
                       default=defaults.min_presence_ratio,
                       help='least fraction of frames each object is visible '
                       'in (default: %(default)s)')
    rules.add_argument('--min-cooccurrence', type=int,
                       default=defaults.min_cooccurrence,
                       help='least frames with all objects visible (default: '
                       '%(default)s)')
    rules.add_argument('--max-missing-gap', type=int,
                       default=defaults.max_missing_gap,
                       help='most consecutive missing frames per object '
                       '(default: %(default)s)')
    frames = parser.add_argument_group('frames (optional)')
    frames.add_argument('--src-frames',
                        help='folder of the original frames '
                        '(<sequence>/<frame>); with --dst-frames, the frames '
                        'the windows use are resized and cropped into '
                        '--dst-frames')
    frames.add_argument('--dst-frames', help='folder of the cropped frames')
    frames.add_argument('--frame-tmpl', default=DEFAULT_FRAME_TMPL,
                        help='name of frame k (default: %(default)s)')
    args = parser.parse_args(argv)
    if len(args.crop_size) not in (1, 2):
        parser.error(f'--crop-size takes S or W H, got {args.crop_size}')
    if (args.src_frames is None) != (args.dst_frames is None):
        parser.error('--src-frames and --dst-frames go together')
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    crop = args.crop_size[0] if len(args.crop_size) == 1 \
        else tuple(args.crop_size)
    rules = WindowRules(
        window_length=args.window_length, target_fps=args.target_fps,
        resize_short=args.resize_short, crop_size=crop,
        min_box_area_ratio=args.min_box_area_ratio,
        min_start_gap=args.min_start_gap, min_objects=args.min_objects,
        max_objects=args.max_objects,
        min_presence_ratio=args.min_presence_ratio,
        min_cooccurrence=args.min_cooccurrence,
        max_missing_gap=args.max_missing_gap)
    sequences = load_frame_annotations(args.annotations)
    windows, stats = build_windows(sequences, rules)
    write_windows(args.out, windows, rules, source=args.annotations,
                  frame_tmpl=args.frame_tmpl)
    rejected = ', '.join(f'{reason} {stats[reason]}'
                         for reason in REJECT_REASONS)
    print(f'{stats["windows"]} windows from {stats["sequences"]} sequences '
          f'({stats["candidates"]} candidates; left out by rule: '
          f'{rejected}) -> {args.out}')
    if args.src_frames is not None:
        count = write_cropped_frames(sequences, windows, rules,
                                     args.src_frames, args.dst_frames,
                                     args.frame_tmpl)
        print(f'Wrote {count} cropped frames to {args.dst_frames}')
    print(f'Done in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
