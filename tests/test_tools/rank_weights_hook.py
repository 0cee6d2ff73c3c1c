"""Test helper loaded into tools/train.py runs through ``custom_imports``.

Saves each rank's final model weights, so that a test can compare the ranks of
a distributed run (the runner's own checkpoints are written by rank 0 only).
"""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmivnext.registry import HOOKS


@HOOKS.register_module()
class SaveRankWeightsHook(Hook):
    """Write ``<work_dir>/rank<r>_weights.pth`` after training."""

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save(model.state_dict(),
                   osp.join(runner.work_dir, f'rank{get_rank()}_weights.pth'))
