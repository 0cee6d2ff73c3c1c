"""Print how each logged loss moved during a run.

Reads the ``scalars.json`` that MMEngine's ``LocalVisBackend`` writes under
``<work_dir>/<timestamp>/vis_data/`` (the latest run in the work dir by
default) and prints, per loss, its mean over the first and the last
``--window`` logged steps.

Example::

    python tools/analysis/loss_summary.py work_dirs/demo
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


def read_losses(path: str) -> dict:
    """``{loss name: [values in logged order]}`` from a scalars.json file."""
    losses = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{number}: not JSON: {err}') from err
            for key, value in record.items():
                if key.startswith('loss'):
                    losses.setdefault(key, []).append(float(value))
    if not losses:
        raise ValueError(f'{path} has no loss entries')
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('path', help='work dir, run folder or scalars.json')
    parser.add_argument('--window', type=int, default=5,
                        help='logged steps averaged at each end')
    args = parser.parse_args(argv)
    path = find_scalars(args.path)
    losses = read_losses(path)
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
