"""Checkpoint rotation that a killed job cannot leave without a checkpoint."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmivnext.registry import HOOKS
from mmivnext.utils.checkpoint_io import atomic_write_text, fsync_dir


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` made safe against ``kill -9``.

    MMEngine 0.10 removes the oldest kept checkpoint *before* it writes the
    new one and truncates ``last_checkpoint`` before writing it: a job killed
    in between, with ``max_keep_ckpts=1``, has no loadable checkpoint left,
    and an empty ``last_checkpoint`` makes auto-resume fail. This hook, with
    the same arguments, saves first (``mmivnext.Runner`` writes the file
    atomically), then replaces ``last_checkpoint`` atomically, then removes
    the checkpoints that fell out of ``max_keep_ckpts``. A kill at any point
    leaves the previous checkpoints or the new one complete, and loses at
    most one checkpoint interval. Unknown arguments are refused by the
    runner when the hooks are registered (see
    :class:`mmivnext.engine.runner.SafeRunnerMixin`).
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # The same step may be saved twice (last and best checkpoints).
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_text(self.last_ckpt,
                          osp.join(runner.work_dir, 'last_checkpoint'))
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)  # DeepSpeed checkpoints
        if outdated and osp.isdir(self.out_dir):
            fsync_dir(self.out_dir)
