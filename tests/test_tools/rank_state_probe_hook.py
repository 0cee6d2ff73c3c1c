"""Test helper loaded into tools/train.py runs through ``custom_imports``.

Records, on every rank, what a test of a sharded run needs to see: the logged
gradient norms (the clipping norm) and the frozen teachers' weights as the
rank holds them, in ``<work_dir>/rank<r>_probe.pth`` (weights-only loadable).
"""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmivnext.models.teachers import BaseFrozenTeacher
from mmivnext.registry import HOOKS


@HOOKS.register_module()
class RankStateProbeHook(Hook):
    """Write ``<work_dir>/rank<r>_probe.pth`` after training: ``grad_norm``
    (the logged history), ``teacher`` (``{name: (shape, device, dtype,
    requires_grad)}`` of the parameters of the models every frozen teacher
    holds) and ``model_type`` (the runner's model class name)."""

    def after_train(self, runner) -> None:
        grad_norm = runner.message_hub.get_scalar('train/grad_norm').data[0]
        teacher = {}
        teachers = [m for m in runner.model.modules()
                    if isinstance(m, BaseFrozenTeacher)]
        for i, module in enumerate(teachers):
            for j, held in enumerate(module.held_models()):
                for name, param in held.named_parameters():
                    teacher[f'{i}.{j}.{name}'] = (
                        tuple(param.shape), str(param.device),
                        str(param.dtype), param.requires_grad)
        torch.save(
            dict(grad_norm=torch.as_tensor(grad_norm), teacher=teacher,
                 model_type=type(runner.model).__name__),
            osp.join(runner.work_dir, f'rank{get_rank()}_probe.pth'))
