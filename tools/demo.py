"""The README's main job: tiny InternVideo-Next pretraining on the demo videos,
and the proof that it learns.

Every step is one of the repository's tools, run as its own process; its full
output goes to ``WORK_DIR/logs/<step>.log`` and the terminal shows one
progress bar per step, then a summary table (also written to
``WORK_DIR/summary.md`` and ``WORK_DIR/summary.json``).

Steps:

1. ``videos``: ``tools/data/make_demo_videos.py`` (once; 960 train and 240
   validation clips, 12 classes = shape x direction of motion).
2. ``models``: ``tools/data/make_demo_models.py`` (once; the random tiny
   SigLIP teacher and ModernBERT predictor: nothing can be downloaded).
3. ``stage1``: ``tools/train.py`` on the Stage-1 demo config.
4. ``reconstruction``: ``tools/analysis/visualize_reconstruction.py``: 2 drawn
   validation clips, masked-patch PSNR on ``--num-recon`` of them against
   each clip's mean colour.
5. ``convert``: ``tools/model_converters/stage1_to_stage2.py``.
6. ``stage2``: ``tools/train.py`` on the Stage-2 demo config from it.
7. ``export``: ``tools/model_converters/export_encoder.py``.
8. ``probe-pretrained`` / ``probe-random``: ``tools/probe_sweep.py``: the
   same attentive probe, data and budget over the frozen exported encoder and
   over a frozen randomly initialised one, ``--seeds`` probe seeds each.

Labels are used by the probes only; pretraining never sees them.

Example::

    python tools/demo.py                       # work_dirs/demo
    python tools/demo.py --work-dir /tmp/demo --seeds 0 1 2 3 4
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1 = 'configs/ivnext/demo/ivnext-stage1_vit-tiny-p14_1xb8-8x1x1-2e_demo-videos.py'
STAGE2 = 'configs/ivnext/demo/ivnext-stage2_vit-tiny-p14_1xb8-16x1x1-1e_demo-videos.py'
PROBE = ('configs/probes/demo/'
         'attentive-probe_ivnext-vit-tiny-p14_1xb32-16x1x1-40e_demo-videos.py')
#: ``Epoch(train) [epoch][iter/iters]`` lines of MMEngine's logger.
TRAIN_PROGRESS = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')
#: ``heads: ... n/total`` of ``tools/probe_sweep.py``'s bar over the runs.
PROBE_HEADS = re.compile(r'heads:[^\r\n]*?(\d+)/\d+')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where runs, logs and pictures go '
                        '(default: %(default)s)')
    parser.add_argument('--data-dir', default='data/demo_videos',
                        help='demo videos, written if missing '
                        '(default: %(default)s)')
    parser.add_argument('--models-dir', default='data/demo_models',
                        help='tiny random teacher and predictor, written '
                        'if missing (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=960,
                        help='training videos (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=240,
                        help='held-out videos (default: %(default)s)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='probe seeds (default: %(default)s)')
    parser.add_argument('--num-recon', type=int, default=8,
                        help='validation clips scored by the reconstruction '
                        'PSNR (default: %(default)s)')
    parser.add_argument('--stage1', default=STAGE1, help='Stage-1 config')
    parser.add_argument('--stage2', default=STAGE2, help='Stage-2 config')
    parser.add_argument('--probe', default=PROBE, help='probe config')
    parser.add_argument('--stage1-options', nargs='*', default=[],
                        help='extra --cfg-options of Stage 1 (key=value)')
    parser.add_argument('--stage2-options', nargs='*', default=[],
                        help='extra --cfg-options of Stage 2 (key=value)')
    parser.add_argument('--probe-options', nargs='*', default=[],
                        help='extra --cfg-options of both probes '
                        '(key=value)')
    args = parser.parse_args(argv)
    if args.num_val < 2:
        parser.error(f'--num-val must be >= 2 (2 clips are drawn), got '
                     f'{args.num_val}')
    if args.num_recon < 2:
        parser.error(f'--num-recon must be >= 2, got {args.num_recon}')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must differ, got {args.seeds}')
    return args


class Step:
    """One tool run as a subprocess, its output in a log file, its progress
    as a tqdm bar.

    Args:
        name (str): Shown on the bar; the log is ``<name as a slug>.log``
            (``'probe (random)'`` -> ``probe-random.log``).
        cmd (list[str]): The command (``sys.executable`` + tool + args).
        log_dir (str): Folder of ``<name>.log``.
        total (int): Bar length; 1 for steps without a progress measure.
        progress (callable, optional): ``progress(log_text) -> int``, the
            units done so far, read from the log while the step runs.
    """

    def __init__(self, name: str, cmd: List[str], log_dir: str,
                 total: int = 1, progress=None) -> None:
        self.name = name
        self.cmd = cmd
        slug = re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')
        self.log = osp.join(log_dir, f'{slug}.log')
        self.total = total
        self.progress = progress

    def run(self) -> float:
        """Run the command; returns its wall time in seconds.

        Raises:
            SystemExit: If the command fails: names the step and its log and
                shows the log's last lines.
        """
        from tqdm import tqdm
        start = time.time()
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        # The bar is drawn on a terminal only (tqdm's disable=None); logs
        # and pipes get one line per finished step instead.
        with open(self.log, 'w') as log, tqdm(
                total=self.total, desc=f'{self.name:<16}', unit='it',
                dynamic_ncols=True, leave=True, disable=None,
                bar_format='{desc} {bar} {n_fmt}/{total_fmt} '
                '[{elapsed}<{remaining}]') as bar:
            log.write('$ ' + ' '.join(self.cmd) + '\n')
            log.flush()
            proc = subprocess.Popen(self.cmd, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=ROOT,
                                    env=env)
            while proc.poll() is None:
                time.sleep(0.5)
                if self.progress is not None:
                    done = min(self.total, self.progress(self._text()))
                    if done != bar.n:
                        bar.update(done - bar.n)
            if proc.returncode == 0:
                bar.update(self.total - bar.n)
            if bar.disable:
                status = 'done' if proc.returncode == 0 else 'FAILED'
                print(f'{self.name:<16} {status} in '
                      f'{time.time() - start:.0f} s', flush=True)
        if proc.returncode != 0:
            tail = self._text().splitlines()[-25:]
            raise SystemExit('\n'.join(
                [f'error: step {self.name!r} failed (exit code '
                 f'{proc.returncode}); full log: {self.log}', *tail]))
        return time.time() - start

    def _text(self) -> str:
        with open(self.log, errors='replace') as f:
            return f.read()


def train_progress(log_text: str) -> int:
    """Iterations done according to the newest ``Epoch(train)`` log line."""
    found = TRAIN_PROGRESS.findall(log_text)
    if not found:
        return 0
    epoch, it, iters = (int(v) for v in found[-1])
    return (epoch - 1) * iters + it


def probe_progress(log_text: str) -> int:
    """Units done by ``tools/probe_sweep.py``: 1 per feature pass (train,
    val), then 1 per trained head, from its tqdm bars."""
    heads = PROBE_HEADS.findall(log_text)
    if heads:
        return 2 + int(heads[-1])
    return 1 if 'val:' in log_text else 0


def train_iterations(config: str, num_train: int,
                     options: Sequence[str] = ()) -> int:
    """Iterations a config trains on ``num_train`` clips (``max_epochs`` x
    batches per epoch, the last partial batch kept)."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(ROOT, config))
    if options:
        parsed = argparse.ArgumentParser()
        parsed.add_argument('o', nargs='*', action=DictAction)
        cfg.merge_from_dict(parsed.parse_args(list(options)).o)
    batch = cfg.train_dataloader.batch_size
    return cfg.train_cfg.max_epochs * -(-num_train // batch)


def monitor_options(config: str, data_dir: str) -> List[str]:
    """``--cfg-options`` pointing the config's
    ``RepresentationMonitorHook`` (if it has one) at ``data_dir/val.txt``."""
    from mmengine.config import Config
    hooks = Config.fromfile(osp.join(ROOT, config)).get('custom_hooks', [])
    return [option for i, hook in enumerate(hooks)
            if 'RepresentationMonitorHook' in hook['type']
            for option in (
                f'custom_hooks.{i}.dataset.ann_file={data_dir}/val.txt',
                f'custom_hooks.{i}.dataset.data_prefix.video={data_dir}')]


def read_list(path: str) -> List[str]:
    """The video paths of an mmaction2 list file."""
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def loss_first_last(work_dir: str, window: int = 5) -> Dict[str, tuple]:
    """``{loss: (mean of the first, mean of the last window logged)}``."""
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    from loss_summary import find_scalars, read_losses
    out = {}
    for key, values in read_losses(find_scalars(work_dir)).items():
        n = min(window, len(values))
        out[key] = (sum(values[:n]) / n, sum(values[-n:]) / n)
    return out


def plot_losses(work_dirs: Dict[str, str], out: str) -> None:
    """One panel per stage: every logged loss against the iteration."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    from loss_summary import find_scalars, read_scalars
    fig, axes = plt.subplots(1, len(work_dirs), figsize=(6 * len(work_dirs),
                                                         3.6), squeeze=False)
    for ax, (title, work_dir) in zip(axes[0], work_dirs.items()):
        for key, points in read_scalars(find_scalars(work_dir)).items():
            steps, values = zip(*points)
            ax.plot(steps, values, label=key, lw=2 if key == 'loss' else 1)
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_probes(results: Dict[str, dict], chance: float, out: str) -> None:
    """Bars of top-1 and top-5 (mean over seeds, error bars = std)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    width = 0.38
    for k, (metric, colour) in enumerate((('top1', 'tab:blue'),
                                          ('top5', 'tab:orange'))):
        means = [results[n][f'{metric}_mean'] for n in names]
        stds = [results[n][f'{metric}_std'] for n in names]
        xs = [i + (k - 0.5) * width for i in range(len(names))]
        ax.bar(xs, means, width, yerr=stds, capsize=4, color=colour,
               label=metric.replace('top', 'top-'))
    ax.axhline(chance, color='grey', ls='--', lw=1, label='chance (top-1)')
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f'{n} encoder' for n in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel('accuracy on held-out clips')
    ax.set_title('attentive probe, frozen encoder (mean ± std over seeds)',
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def probe_summary(path: str) -> dict:
    """The one learning rate's summary of a ``probe_sweep.json``."""
    with open(path) as f:
        result = json.load(f)
    summaries = result['summary']
    if len(summaries) != 1:
        raise ValueError(f'{path}: expected one learning rate, got '
                         f'{len(summaries)}')
    summary = dict(summaries[0])
    summary.update(num_val=result['num_val'], num_train=result['num_train'],
                   seeds=result['seeds'])
    return summary


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    work = args.work_dir
    logs = osp.join(work, 'logs')
    os.makedirs(logs, exist_ok=True)
    data_opts = [
        f'train_dataloader.dataset.ann_file={args.data_dir}/train.txt',
        f'train_dataloader.dataset.data_prefix.video={args.data_dir}',
    ]
    val_opts = [
        f'val_dataloader.dataset.ann_file={args.data_dir}/val.txt',
        f'val_dataloader.dataset.data_prefix.video={args.data_dir}',
        f'test_dataloader.dataset.ann_file={args.data_dir}/val.txt',
        f'test_dataloader.dataset.data_prefix.video={args.data_dir}',
    ]
    model_opts1 = [
        f'model.teacher.pretrained={args.models_dir}/siglip_tiny',
        f'model.predictor.pretrained={args.models_dir}/modernbert_tiny',
    ]
    model_opts2 = [
        f'model.predictor.pretrained={args.models_dir}/modernbert_tiny']
    stage1_dir, stage2_dir = osp.join(work, 'stage1'), osp.join(work, 'stage2')
    init = osp.join(work, 'stage2_init.pth')
    encoder = osp.join(work, 'encoder.safetensors')
    recon_png = osp.join(work, 'reconstruction.png')
    recon_json = osp.join(work, 'reconstruction.json')
    times = {}
    start = time.time()
    print(f'mmivnext demo: logs of every step in {logs}/')

    have = osp.isfile(osp.join(args.data_dir, 'val.txt')) and \
        len(read_list(osp.join(args.data_dir, 'train.txt'))) >= \
        args.num_train and \
        len(read_list(osp.join(args.data_dir, 'val.txt'))) >= args.num_val
    if not have:
        times['videos'] = Step('videos', [
            py, 'tools/data/make_demo_videos.py', '--out-dir', args.data_dir,
            '--num-train', str(args.num_train), '--num-val',
            str(args.num_val)], logs).run()
    if not osp.isfile(osp.join(args.models_dir, 'modernbert_tiny',
                               'config.json')):
        times['models'] = Step('models', [
            py, 'tools/data/make_demo_models.py', '--out-dir',
            args.models_dir], logs).run()
    num_train = len(read_list(osp.join(args.data_dir, 'train.txt')))
    val_videos = [osp.join(args.data_dir, v)
                  for v in read_list(osp.join(args.data_dir, 'val.txt'))]

    def train(key: str, config: str, work_dir: str, opts: list) -> str:
        """Run ``tools/train.py`` as step ``key``; its last checkpoint."""
        opts = monitor_options(config, args.data_dir) + opts
        times[key] = Step(
            key.replace('stage', 'stage '), [
                py, 'tools/train.py', config, '--work-dir', work_dir,
                '--cfg-options', *opts
            ], logs, train_iterations(config, num_train, opts),
            train_progress).run()
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    stage1_ckpt = train('stage1', args.stage1, stage1_dir, data_opts +
                        model_opts1 + list(args.stage1_options))

    times['reconstruction'] = Step('reconstruction', [
        py, 'tools/analysis/visualize_reconstruction.py', args.stage1,
        stage1_ckpt, *val_videos[:args.num_recon], '--draw', '2',
        '--out', recon_png, '--metrics-out', recon_json,
        '--cfg-options', *model_opts1], logs).run()

    times['convert'] = Step('convert', [
        py, 'tools/model_converters/stage1_to_stage2.py', stage1_ckpt,
        init], logs).run()
    stage2_ckpt = train('stage2', args.stage2, stage2_dir, data_opts +
                        model_opts2 + [
                            f'model.init_checkpoint={init}',
                            f'model.teacher.checkpoint={init}'
                        ] + list(args.stage2_options))
    times['export'] = Step('export', [
        py, 'tools/model_converters/export_encoder.py', stage2_ckpt,
        encoder], logs).run()

    probes = {}
    for name, init_opt in (
            ('pretrained', f'model.backbone.init_cfg.checkpoint={encoder}'),
            ('random', 'model.backbone.init_cfg=None')):
        probe_dir = osp.join(work, f'probe_{name}')
        times[f'probe-{name}'] = Step(
            f'probe ({name})', [
                py, 'tools/probe_sweep.py', args.probe, '--work-dir',
                probe_dir, '--name', name, '--seeds',
                *[str(s) for s in args.seeds], '--cfg-options',
                *data_opts, *val_opts, init_opt, *args.probe_options],
            logs, len(args.seeds) + 2, probe_progress).run()
        probes[name] = probe_summary(osp.join(probe_dir, 'probe_sweep.json'))

    summary = write_summary(args, work, stage1_dir, stage2_dir, recon_json,
                            probes, times, time.time() - start,
                            dict(stage1=shown_path(stage1_ckpt),
                                 stage2_init=init,
                                 stage2=shown_path(stage2_ckpt),
                                 encoder=encoder))
    print(summary)


def shown_path(path: str) -> str:
    """``path`` relative to the working folder when it lies below it (MMEngine
    records absolute checkpoint paths), as the other outputs are shown."""
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def write_summary(args, work: str, stage1_dir: str, stage2_dir: str,
                  recon_json: str, probes: Dict[str, dict],
                  times: Dict[str, float], total: float,
                  checkpoints: Dict[str, str]) -> str:
    """Draw the plots and write ``summary.md`` / ``summary.json``; returns
    the Markdown printed on the terminal."""
    from mmivnext.testing.demo_videos import DEMO_CLASSES
    from mmivnext.utils.checkpoint_io import atomic_write
    chance = 1 / len(DEMO_CLASSES)
    losses = {'Stage 1': loss_first_last(stage1_dir),
              'Stage 2': loss_first_last(stage2_dir)}
    loss_png = osp.join(work, 'loss_curves.png')
    probe_png = osp.join(work, 'probe_comparison.png')
    plot_losses({'Stage 1': stage1_dir, 'Stage 2': stage2_dir}, loss_png)
    plot_probes(probes, chance, probe_png)
    with open(recon_json) as f:
        recon = json.load(f)

    lines = ['', '## mmivnext demo: summary', '',
             '| stage | loss | first | last |', '|---|---|---:|---:|']
    for stage, values in losses.items():
        for key, (first, last) in values.items():
            lines.append(f'| {stage} | {key} | {first:.3f} | {last:.3f} |')
    p, r = probes['pretrained'], probes['random']
    n_seeds = len(p['seeds'])
    lines += [
        '', f'Attentive probe on the frozen encoder: {p["num_train"]} '
        f'training and {p["num_val"]} held-out clips, mean ± std over '
        f'{n_seeds} probe seeds (chance top-1 {chance:.3f}):', '',
        '| encoder | top-1 | top-5 |', '|---|---:|---:|']
    for name, s in probes.items():
        lines.append(f'| {name} | {s["top1_mean"]:.3f} ± {s["top1_std"]:.3f}'
                     f' | {s["top5_mean"]:.3f} ± {s["top5_std"]:.3f} |')
    gain = p['top1_mean'] - r['top1_mean']
    lines += [
        '', f'Pretrained - random: {100 * gain:+.1f} points top-1.', '',
        f'Masked-patch PSNR on {len(recon["videos"])} held-out clips '
        f'(Stage 1, sampled): reconstruction '
        f'{float(recon["mean_psnr_reconstruction"]):.2f} dB, clip mean '
        f'colour {float(recon["mean_psnr_mean_colour"]):.2f} dB '
        f'({float(recon["mean_gain_db"]):+.2f} dB).', '',
        '| output | path |', '|---|---|',
        f'| reconstructions (2 clips) | {osp.join(work, "reconstruction.png")}'
        ' |',
        f'| loss curves | {loss_png} |',
        f'| probe comparison | {probe_png} |',
        f'| logs of every step | {osp.join(work, "logs")}/ |',
    ]
    lines += [f'| checkpoint: {k} | {v} |' for k, v in checkpoints.items()]
    lines += ['', f'Total {total / 60:.1f} min (' + ', '.join(
        f'{k} {v:.0f} s' for k, v in times.items()) + ').']
    text = '\n'.join(lines) + '\n'
    with atomic_write(osp.join(work, 'summary.md'), 'w') as f:
        f.write(text)
    record = dict(losses={s: {k: list(v) for k, v in d.items()}
                          for s, d in losses.items()},
                  probes=probes, reconstruction=recon, seconds=times,
                  total_seconds=total, checkpoints=checkpoints,
                  top1_gain=gain, chance_top1=chance)
    with atomic_write(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(record, f, indent=1)
    return text


if __name__ == '__main__':
    main()
