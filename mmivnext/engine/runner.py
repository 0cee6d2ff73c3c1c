"""MMEngine's runners with pre-emption-safe checkpoints and exact resume.

``tools/train.py`` and ``tools/test.py`` build :class:`Runner` (or
:class:`FlexibleRunner` for configs with a ``strategy``) unless a config names
another ``runner_type``. Over MMEngine's runners they:

* never execute checkpoint text: MMEngine's ``resume`` runs
  ``Config.fromstring(checkpoint['meta']['config'])``; the entry is dropped
  (and logged) before MMEngine's code sees it;
* write every checkpoint atomically (a hidden temporary file in the same
  folder, fsynced, then renamed), so a pre-empted job (``kill -9``) leaves
  complete checkpoints only;
* auto-resume (``--resume`` without a file) from the newest *loadable*
  checkpoint in the work dir, logging the one taken and why newer ones were
  skipped, instead of trusting ``last_checkpoint`` alone;
* save every rank's random generators (Python, numpy, torch CPU and CUDA) in
  ``meta['random_states']`` and restore them on resume; give the DataLoaders
  their own generator, re-seeded every epoch from the run's seed, so that
  starting DataLoader workers draws nothing from the global torch generator.
  With ``mmivnext.SeededSampler`` (the pretraining datasets' sampler) a run
  resumed at an epoch boundary then draws exactly the random numbers of the
  uninterrupted run, with persistent or short-lived workers;
* record the encoder's ``VisionTransformer3D`` arguments as data in
  ``meta['encoder_architecture']`` (what ``export_encoder.py`` reads);
* refuse unknown ``CheckpointHook`` arguments when the hooks are registered,
  not when the first checkpoint is saved.

Validation loops that draw random numbers between a checkpoint and the next
epoch make resumed runs differ from uninterrupted ones; mmivnext's
pretraining configs have none.
"""
import copy
import inspect
import os
import os.path as osp
import re
import shutil
import zipfile
from typing import List, Optional, Tuple

import torch
from mmengine.dist import all_gather_object, barrier, get_dist_info
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner import FlexibleRunner as MMEngineFlexibleRunner
from mmengine.runner import Runner as MMEngineRunner

from mmivnext.registry import RUNNERS
from mmivnext.utils.checkpoint_io import TMP_PREFIX, fsync_dir
from mmivnext.utils.encoder_export import (ARCHITECTURE_META_KEY,
                                           encoder_architecture)
from mmivnext.utils.random_state import (capture_random_state,
                                         restore_random_state)

#: Checkpoint ``meta`` keys written by these runners.
RANDOM_STATES_KEY = 'random_states'
#: ``meta`` keys that are never read back: MMEngine executes 'config'.
UNSAFE_META_KEYS = ('config', )
#: Arguments ``CheckpointHook`` passes to ``runner.save_checkpoint`` itself.
CHECKPOINT_HOOK_PASSED = ('out_dir', 'filename', 'file_client_args',
                          'save_optimizer', 'save_param_scheduler', 'meta',
                          'by_epoch', 'backend_args')


def _is_local(path: str) -> bool:
    return '://' not in path


def _fsync_tree(path: str) -> None:
    """fsync a file, or every file and folder under a folder."""
    paths = [path] if osp.isfile(path) else [
        osp.join(root, name) for root, _, names in os.walk(path)
        for name in names]
    for file in paths:
        with open(file, 'rb') as f:
            os.fsync(f.fileno())
    if osp.isdir(path):
        for root, _, _ in os.walk(path):
            fsync_dir(root)


def torch_checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete torch checkpoint, or None.

    Cheap: reads the zip directory at the end of the file (torch's format
    since 1.6), which a truncated file lacks, not the tensors. Folders
    (DeepSpeed checkpoints) are accepted as they are.
    """
    if osp.isdir(path):
        return None
    if not osp.isfile(path):
        return 'no such file'
    if osp.getsize(path) == 0:
        return 'empty file'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return f'not a complete torch checkpoint ({e})'
    if not any(name.endswith('data.pkl') for name in names):
        return 'not a torch checkpoint (no data.pkl in the archive)'
    return None


class SafeRunnerMixin:
    """What :class:`Runner` and :class:`FlexibleRunner` add to MMEngine's
    runners; see the module notes."""

    _loaded_random_states: Optional[list] = None

    # -- hooks -------------------------------------------------------------
    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        self._check_checkpoint_hook_args()

    def _check_checkpoint_hook_args(self) -> None:
        """Raise a TypeError naming unknown ``CheckpointHook`` arguments
        (MMEngine passes them to ``save_checkpoint`` at the first save)."""
        params = inspect.signature(self.save_checkpoint).parameters
        accepted = sorted(set(params) - set(CHECKPOINT_HOOK_PASSED))
        for hook in self.hooks:
            if not isinstance(hook, CheckpointHook):
                continue
            unknown = sorted(set(hook.args) - set(accepted))
            if unknown:
                raise TypeError(
                    f'{type(hook).__name__} got unknown argument(s) '
                    f'{unknown}: not arguments of the hook nor of '
                    f'{type(self).__name__}.save_checkpoint '
                    f'(extra arguments it accepts: {accepted or "none"}). '
                    'Check default_hooks.checkpoint in the config.')

    def call_hook(self, fn_name: str, **kwargs) -> None:
        if fn_name == 'after_load_checkpoint':
            self._sanitize_loaded(kwargs['checkpoint'])
        elif fn_name == 'before_train_epoch':
            self._seed_loader(self.train_dataloader)
        elif fn_name == 'before_val_epoch':
            self._seed_loader(self.val_dataloader)
        elif fn_name == 'before_test_epoch':
            self._seed_loader(self.test_dataloader)
        super().call_hook(fn_name, **kwargs)

    def _seed_loader(self, loader) -> None:
        """Give a DataLoader its own generator, seeded from the run's seed
        and the epoch: its workers' base seed then comes from there, not
        from the global torch generator the training step draws from."""
        if not isinstance(loader, torch.utils.data.DataLoader):
            return
        if loader.generator is None:
            loader.generator = torch.Generator()
        loader.generator.manual_seed(int(self.seed) + int(self.epoch))

    def _sanitize_loaded(self, checkpoint: dict) -> None:
        meta = checkpoint.get('meta')
        if not isinstance(meta, dict):
            self._loaded_random_states = None
            return
        for key in UNSAFE_META_KEYS:
            if key in meta:
                meta.pop(key)
                self.logger.info(
                    f"Ignored the checkpoint's meta[{key!r}]: config text "
                    'from a checkpoint is never executed.')
        self._loaded_random_states = meta.get(RANDOM_STATES_KEY)

    # -- saving ------------------------------------------------------------
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """MMEngine's ``save_checkpoint``, atomic for local paths, with every
        rank's random states and the encoder architecture in ``meta``.
        Collective: every rank calls it (as ``CheckpointHook`` does)."""
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f'meta must be a dict, got {type(meta)}')
        meta = dict(meta or {})
        meta[RANDOM_STATES_KEY] = all_gather_object(capture_random_state())
        architecture = self._encoder_architecture()
        if architecture is not None:
            meta[ARCHITECTURE_META_KEY] = architecture
        final = osp.join(out_dir, filename)
        atomic = _is_local(out_dir) and file_client_args is None and \
            backend_args is None
        tmp_name = f'{TMP_PREFIX}{filename}' if atomic else filename
        super().save_checkpoint(
            out_dir, tmp_name, file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=backend_args)
        if not atomic:
            return
        barrier()  # every rank's part of a sharded checkpoint is written
        if is_main_process():
            tmp = osp.join(out_dir, tmp_name)
            _fsync_tree(tmp)
            if osp.isdir(final):
                shutil.rmtree(final)  # os.replace cannot replace a folder
            os.replace(tmp, final)
            fsync_dir(out_dir)
        barrier()

    def _encoder_architecture(self) -> Optional[dict]:
        """The ``VisionTransformer3D`` arguments of the config's
        ``model.backbone`` (plain data), or None for other backbones."""
        backbone = (self.cfg.get('model') or {}).get('backbone')
        if backbone is None:
            return None
        try:
            return encoder_architecture(backbone)
        except (ValueError, TypeError):
            return None

    # -- loading -----------------------------------------------------------
    def load_or_resume(self) -> None:
        if not self._has_loaded and self._resume is True and \
                self._load_from is None:
            self._load_from = self.find_resumable_checkpoint()
            if self._load_from is None:
                self.logger.info(
                    f'Auto-resume: no checkpoint in {self.work_dir}; '
                    'training starts from the beginning.')
                self._resume = False
        super().load_or_resume()

    def find_resumable_checkpoint(self) -> Optional[str]:
        """The newest complete checkpoint in the work dir (and in the folder
        ``last_checkpoint`` points to): the highest step among the files named
        by the checkpoint hooks' ``filename_tmpl``. Logs the one taken and why
        newer ones were skipped."""
        candidates, skipped = self._checkpoint_candidates()
        for path in candidates:
            problem = torch_checkpoint_problem(path)
            if problem is None:
                for other, reason in skipped:
                    self.logger.warning(
                        f'Auto-resume: skipped {other}: {reason}.')
                self.logger.info(
                    f'Auto-resume: resuming from {path}, the newest complete '
                    'checkpoint.')
                return path
            skipped.append((path, problem))
        for other, reason in skipped:
            self.logger.warning(f'Auto-resume: skipped {other}: {reason}.')
        return None

    def _checkpoint_candidates(self) -> Tuple[List[str], list]:
        """Files named by a ``CheckpointHook``'s ``filename_tmpl`` (e.g.
        ``epoch_{}.pth``), newest step first, and the problems found on the
        way (``[(path, reason)]``)."""
        folders = {osp.abspath(self.work_dir)}
        skipped = []
        pointer = osp.join(self.work_dir, 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                named = f.read().strip()
            if not named:
                skipped.append((pointer, 'empty (written when the job was '
                                'killed?)'))
            elif _is_local(named):
                folders.add(osp.dirname(osp.abspath(named)))
        templates = {hook.filename_tmpl for hook in self.hooks
                     if isinstance(hook, CheckpointHook)}
        patterns = [re.compile(re.escape(t).replace(r'\{\}', r'(\d+)') + '$')
                    for t in templates]
        found = []
        for folder in folders:
            for name in os.listdir(folder) if osp.isdir(folder) else []:
                for pattern in patterns:
                    match = pattern.match(name)
                    if match:
                        path = osp.join(folder, name)
                        found.append((int(match.group(1)),
                                      osp.getmtime(path), path))
        return [path for *_, path in sorted(found, reverse=True)], skipped

    def resume(self, filename: str, *args, **kwargs) -> None:
        """MMEngine's ``resume``, then every generator put back where the
        checkpoint's rank left it."""
        self._loaded_random_states = None
        super().resume(filename, *args, **kwargs)
        states = self._loaded_random_states
        rank, world_size = get_dist_info()
        if not states:
            self.logger.warning(
                f'{filename} holds no random states (not saved by an '
                'mmivnext runner): the resumed run draws other random numbers '
                'than the uninterrupted one would have.')
        elif len(states) != world_size:
            self.logger.warning(
                f'{filename} holds the random states of {len(states)} ranks, '
                f'this run has {world_size}: they are not restored, so the '
                'resumed run draws other random numbers than the '
                'uninterrupted one would have.')
        else:
            restore_random_state(states[rank])
            self.logger.info(f'Restored the random states saved in '
                             f'{filename}.')


@RUNNERS.register_module()
class Runner(SafeRunnerMixin, MMEngineRunner):
    """MMEngine's ``Runner`` with the safety of :class:`SafeRunnerMixin`."""


@RUNNERS.register_module()
class FlexibleRunner(SafeRunnerMixin, MMEngineFlexibleRunner):
    """MMEngine's ``FlexibleRunner`` (FSDP, DeepSpeed) with the safety of
    :class:`SafeRunnerMixin`."""


def build_runner(cfg) -> MMEngineRunner:
    """The runner of a config: its ``runner_type`` if it names one, else
    mmivnext's :class:`Runner` (``FlexibleRunner`` with a ``strategy``)."""
    cfg = copy.deepcopy(cfg)
    if 'runner_type' not in cfg:
        cfg.runner_type = 'mmivnext.FlexibleRunner' if cfg.get(
            'strategy') else 'mmivnext.Runner'
    elif cfg.runner_type == 'FlexibleRunner':
        cfg.runner_type = 'mmivnext.FlexibleRunner'
    elif cfg.runner_type == 'Runner':
        cfg.runner_type = 'mmivnext.Runner'
    return RUNNERS.build(cfg)

