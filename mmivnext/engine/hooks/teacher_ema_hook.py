"""EMA of the Stage-2 teacher from the student (Table 3's momentum ablation)."""
import logging
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch.distributed.fsdp import FullyShardedDataParallel

from mmivnext.registry import HOOKS

#: Checkpoint entry holding the EMA teacher's weights.
EMA_TEACHER_KEY = 'ema_teacher'


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """Update the teacher as an EMA of the student after every iteration.

    The paper's Stage 2 keeps its teacher frozen; Table 3's "Momentum 0.9998
    Target" (V-JEPA's scheme) instead updates it after each training
    iteration as ``t = m t + (1 - m) s`` from the student encoder:
    ``model.teacher.ema_update(model.backbone, momentum)`` with ``model`` the
    runner's model unwrapped from DDP (a
    :class:`~mmivnext.models.teachers.FrozenVideoTeacher`). Add it to a Stage-2
    config with ``custom_hooks = [dict(type='TeacherEMAHook')]``.

    The teacher is not in the model's ``state_dict``, so the hook stores its
    weights under the checkpoint key ``'ema_teacher'`` when a checkpoint is
    saved and loads them back when one is loaded, so that a resumed run goes
    on exactly as an uninterrupted one. A loaded checkpoint without them (e.g.
    a run started without this hook) leaves the teacher as built, with a
    warning.

    Under gradient accumulation the update runs every iteration, not every
    optimizer step (as MMEngine's ``EMAHook``).

    Args:
        momentum (float): ``m`` in ``(0, 1]``. Defaults to 0.9998.
    """

    priority = 'NORMAL'  # after the optimizer step; before checkpoint hooks

    def __init__(self, momentum: float = 0.9998) -> None:
        if not 0. < momentum <= 1.:
            raise ValueError(f'momentum must be in (0, 1], got {momentum}')
        self.momentum = momentum

    @staticmethod
    def _model(runner):
        """The runner's model unwrapped, checked to have an EMA teacher."""
        model = runner.model
        if any(isinstance(m, FullyShardedDataParallel)
               for m in model.modules()):
            raise TypeError(
                'TeacherEMAHook does not work with FSDP: the EMA reads the '
                "student's full weights, which FSDP shards across ranks. "
                'Train the EMA variant with DDP.')
        if is_model_wrapper(model):
            model = model.module
        teacher = getattr(model, 'teacher', None)
        if not callable(getattr(teacher, 'ema_update', None)):
            raise TypeError(
                f'TeacherEMAHook needs a model with a `teacher` that has '
                f'ema_update() (a FrozenVideoTeacher); '
                f'{type(model).__name__}.teacher is '
                f'{type(teacher).__name__}.')
        if getattr(model, 'backbone', None) is None:
            raise TypeError(f'TeacherEMAHook needs a model with a `backbone` '
                            f'(the student encoder); {type(model).__name__} '
                            f'has none.')
        return model

    def before_train(self, runner) -> None:
        self._model(runner)  # fail before the first iteration

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        model = self._model(runner)
        model.teacher.ema_update(model.backbone, self.momentum)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[EMA_TEACHER_KEY] = \
            self._model(runner).teacher.encoder_state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        teacher = self._model(runner).teacher
        if EMA_TEACHER_KEY not in checkpoint:
            print_log(
                f'TeacherEMAHook: the loaded checkpoint has no '
                f'{EMA_TEACHER_KEY!r} weights; the EMA teacher starts from '
                f'its own checkpoint ({getattr(teacher, "checkpoint", "?")}).',
                logger='current', level=logging.WARNING)
            return
        teacher.load_encoder_state_dict(
            checkpoint[EMA_TEACHER_KEY],
            source=f"the checkpoint's {EMA_TEACHER_KEY!r} entry")
