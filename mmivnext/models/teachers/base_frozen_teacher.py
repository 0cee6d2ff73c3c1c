"""What makes a teacher frozen for real, shared by every teacher."""
from typing import Iterator, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn


class BaseFrozenTeacher(BaseModule):
    """Base of the frozen teachers: holds its models outside the module tree.

    A subclass hands each model it wraps to :meth:`hold`, which stores it as
    a plain attribute, not as a submodule. Whatever walks modules then sees a
    teacher without parameters or persistent state, so

    * no optimizer built from the parent's ``parameters()`` holds it
      (MMEngine's ``DefaultOptimWrapperConstructor`` passes
      ``model.parameters()``, frozen ones included, when there is no
      ``paramwise_cfg``; with one it skips them with a warning per parameter);
    * the parent's ``state_dict()`` has no ``teacher.`` keys, and training
      checkpoints load with ``strict=True``; the weights come from wherever
      the subclass loads them at construction;
    * a parent ``init_cfg`` (``init_weights``) never reaches it;
    * DDP neither broadcasts nor synchronises it: each rank loads it.

    Moving the parent (``.to()``, ``.cuda()``, ``.half()``) moves the held
    models too (:meth:`_apply`); ``model.apply(fn)``, ``named_modules()`` and
    module wrappers that walk the tree (FSDP auto-wrap) do not reach them, and
    a ``deepcopy`` of the parent copies them. Their parameters have
    ``requires_grad=False`` and they stay in eval mode whatever ``train()``
    says. Subclasses run their ``forward`` under ``torch.no_grad()``.
    """

    def __init__(self) -> None:
        super().__init__(init_cfg=None)
        self._held_names: Tuple[str, ...] = ()
        self._is_init = True  # loaded by the subclass (models.utils.init)

    def hold(self, name: str, model: nn.Module) -> nn.Module:
        """Freeze ``model`` and keep it as attribute ``name``, outside the
        module tree (class docstring). Returns ``model``."""
        if name in self._modules or name in self._parameters or \
                name in self._buffers:
            raise ValueError(f'{name!r} is already a submodule, parameter or '
                             f'buffer of {type(self).__name__}')
        model.requires_grad_(False)
        model.eval()
        object.__setattr__(self, name, model)
        if name not in self._held_names:
            self._held_names += (name, )
        return model

    def held_models(self) -> Iterator[nn.Module]:
        """The models given to :meth:`hold`."""
        return (getattr(self, name) for name in self._held_names)

    def targets(self, inputs: Tensor) -> Tensor:
        """The teacher's latent targets of every student token.

        Every teacher gives them the same way, so that an algorithm compares
        its predictions with any teacher's.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` clips, normalised as for the
                student.

        Returns:
            Tensor: float32 ``[B, N, C_t]``, one token per student token in
            flattened ``(t, h, w)`` order.
        """
        raise NotImplementedError(
            f'{type(self).__name__} gives no latent targets.')

    def train(self, mode: bool = True) -> 'BaseFrozenTeacher':
        """Stay in eval mode: the teacher is frozen, ``mode`` is ignored."""
        for model in self.held_models():
            model.train(False)
        return super().train(False)

    def _apply(self, fn, recurse: bool = True) -> 'BaseFrozenTeacher':
        """Apply ``fn`` (``.to()``, ``.cuda()``...) to the held models too."""
        super()._apply(fn, recurse)
        if recurse:
            for model in self.held_models():
                model._apply(fn, recurse)
        return self
