"""Print how each logged loss moved during a run, and plot the curves.

Reads the ``scalars.json`` that MMEngine's ``LocalVisBackend`` writes under
``<work_dir>/<timestamp>/vis_data/`` (the latest run in the work dir by
default) and prints, per loss, its mean over the first and the last
``--window`` logged steps. With ``--plot FILE.png`` it also draws every
logged loss (and ``--keys`` such as ``lr`` or ``acc/top1``) against the step.

Example::

    python tools/analysis/loss_summary.py work_dirs/demo/stage1 --plot curves.png
"""
import argparse
import glob
import json
import os.path as osp


def find_scalars(path: str) -> str:
    """``scalars.json`` of ``path`` (a file, a run folder or a work dir)."""
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    found += sorted(glob.glob(osp.join(path, 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(f'no vis_data/scalars.json under {path}')
    return max(found, key=osp.getmtime)


def read_scalars(path: str, keys=()) -> dict:
    """``{name: [(step, value), ...]}`` of every ``loss*`` entry and of
    ``keys`` in a scalars.json file, in logged order."""
    series = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{number}: not JSON: {err}') from err
            step = record.get('step', number)
            for key, value in record.items():
                if key.startswith('loss') or key in keys:
                    series.setdefault(key, []).append((step, float(value)))
    return series


def read_losses(path: str) -> dict:
    """``{loss name: [values in logged order]}`` from a scalars.json file."""
    losses = {
        k: [v for _, v in points]
        for k, points in read_scalars(path).items()
    }
    if not losses:
        raise ValueError(f'{path} has no loss entries')
    return losses


def plot(series: dict, out: str) -> None:
    """Draw each series against its steps into ``out`` (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(series), 1, sharex=True,
                             figsize=(7, 2.2 * len(series)), squeeze=False)
    for ax, (key, points) in zip(axes[:, 0], series.items()):
        steps, values = zip(*points)
        ax.plot(steps, values)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel('iteration')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('path', help='work dir, run folder or scalars.json')
    parser.add_argument('--window', type=int, default=5,
                        help='logged steps averaged at each end')
    parser.add_argument('--plot', help='also draw the curves into this PNG')
    parser.add_argument('--keys', nargs='*', default=(),
                        help='more logged scalars to plot (lr, acc/top1...)')
    args = parser.parse_args(argv)
    path = find_scalars(args.path)
    losses = read_losses(path)
    if args.plot:
        series = read_scalars(path, args.keys)
        missing = [k for k in args.keys if k not in series]
        if missing:
            raise KeyError(f'{path} has no entries {missing}')
        plot(series, args.plot)
        print(f'curves written to {args.plot}')
    print(f'{path}: {len(losses["loss"] if "loss" in losses else [])} '
          'logged steps')
    width = max(len(k) for k in losses)
    print(f'{"":<{width}}  {"first":>8}  {"last":>8}  {"last/first":>10}')
    for key, values in losses.items():
        n = min(args.window, len(values))
        first, last = sum(values[:n]) / n, sum(values[-n:]) / n
        ratio = last / first if first else float('nan')
        print(f'{key:<{width}}  {first:8.4f}  {last:8.4f}  {ratio:10.3f}')


if __name__ == '__main__':
    main()
