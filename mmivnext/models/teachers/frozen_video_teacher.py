"""The frozen video teacher of Stage 2: the Stage-1 encoder.

Stage 2 (paper section 3.3) initialises both the student and the teacher from
Stage 1; the teacher stays frozen ("Frozen Teacher Target": unlike V-JEPA's
EMA target, to prevent shortcut learning) and gives the latent targets of the
masked tokens, from the full, unmasked clip. Table 3's "Momentum 0.9998
Target" ablation updates it as an EMA of the student instead:
:meth:`FrozenVideoTeacher.ema_update`, driven by
:class:`~mmivnext.engine.hooks.TeacherEMAHook`.
"""
import copy
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmivnext.registry import MODELS
from mmivnext.utils.checkpoint_io import load_checkpoint_file
from mmivnext.utils.encoder_loading import check_exported_architecture
from ..backbones import VisionTransformer3D
from ..utils.dtypes import parse_teacher_dtype
from .base_frozen_teacher import BaseFrozenTeacher

#: Backbone options the teacher sets: the last layer's tokens, cls first.
_FORCED_BACKBONE_OPTIONS = dict(out_type='raw', out_indices=-1)


def _key_list(keys: List[str], limit: int = 20) -> str:
    """``keys`` for an error message, the first ``limit`` of them."""
    shown = ', '.join(keys[:limit])
    return shown + (f' ... ({len(keys) - limit} more)'
                    if len(keys) > limit else '')


def _prefixes(keys, depth: int = 1) -> List[str]:
    """The distinct first ``depth`` dotted parts of ``keys`` (``'a.'``)."""
    return sorted({'.'.join(k.split('.')[:depth]) + '.' for k in keys})


def read_encoder_state_dict(checkpoint: str,
                            prefix: str = 'backbone.') -> 'OrderedDict':
    """The encoder's weights in a checkpoint file, ``prefix`` removed.

    Args:
        checkpoint (str): A ``.safetensors`` file or a torch file holding a
            state dict or a dict with one under ``'state_dict'`` (MMEngine
            runner checkpoints, ``stage1_to_stage2`` outputs), read with
            :func:`~mmivnext.utils.checkpoint_io.load_checkpoint_file`
            (weights-only: nothing in the file is run).
        prefix (str): Prefix of the encoder's keys (``'backbone.'``); ``''``
            takes every key (exported encoders).

    Returns:
        OrderedDict: ``{name: tensor}`` without the prefix.

    Raises:
        FileNotFoundError: No such file.
        CheckpointLoadError: The file cannot be read safely (names it).
        ValueError: The file holds no state dict, or no key with ``prefix``.
    """
    state = load_checkpoint_file(checkpoint, map_location='cpu')
    if isinstance(state, Mapping) and 'state_dict' in state:
        state = state['state_dict']
    if not isinstance(state, Mapping) or not all(
            torch.is_tensor(v) for v in state.values()):
        raise ValueError(f'{checkpoint} holds no state dict (a mapping of '
                         f'names to tensors, or one under "state_dict").')
    weights = OrderedDict((k[len(prefix):], v) for k, v in state.items()
                          if k.startswith(prefix))
    if not weights:
        raise ValueError(
            f'{checkpoint} has no weights with the prefix {prefix!r}; its keys '
            f'start with {_prefixes(state)}. Stage-1 checkpoints need '
            f"prefix='backbone.', exported encoders prefix=''.")
    return weights


@MODELS.register_module()
class FrozenVideoTeacher(BaseFrozenTeacher):
    """A frozen ``VisionTransformer3D`` loaded from a Stage-1 checkpoint.

    Gives the last layer's patch tokens of the full, unmasked clip, L2
    normalised by default (Stage 2 compares them with the predictions by
    ``2 - 2 cos``). The **cls tokens are dropped**: the output has one token
    per patch, in the encoder's flattened ``(t, h, w)`` order, so the targets
    of masked tokens are ``gather_tokens(teacher(inputs), masked)``.

    Frozen and held outside the module tree as every teacher is
    (:class:`BaseFrozenTeacher`): its weights come from ``checkpoint`` each
    time the model is built.

    **Loading is strict.** Every weight of the encoder must be in the
    checkpoint and every checkpoint weight under ``prefix`` must fit, or a
    ValueError names the keys. So ``backbone`` must be the Stage-1 encoder's
    config (with its ``projector_cfg`` if Stage 1 had a projector). A
    checkpoint of another frame count or resolution loads cleanly: the
    encoder's load pre-hook resizes ``pos_embed`` to the teacher's grid (e.g.
    Stage 1 at 16 frames, Stage 2 at 32).

    **EMA variant** (Table 3, "Momentum 0.9998 Target"): :meth:`ema_update`
    moves the weights towards the student's; then the weights are training
    state and :class:`~mmivnext.engine.hooks.TeacherEMAHook` saves them in
    checkpoints (:meth:`encoder_state_dict`) and restores them on resume
    (:meth:`load_encoder_state_dict`). Under DDP every rank updates its own
    copy from the synchronised student, so the copies stay equal.

    Args:
        backbone (dict): ``VisionTransformer3D`` config (``type`` defaults to
            it). ``out_type`` and ``out_indices`` are set to ``'raw'`` and
            ``-1`` (another value is an error); ``init_cfg`` is refused: the
            weights come from ``checkpoint``. Training options
            (``drop_path_rate``...) do nothing: the encoder runs in eval mode.
        checkpoint (str): A Stage-1 runner checkpoint, a
            ``tools/model_converters/stage1_to_stage2.py`` output, or an
            encoder exported as ``.safetensors`` by
            ``tools/model_converters/export_encoder.py``; loaded at
            construction.
        prefix (str): Prefix of the encoder's keys in ``checkpoint``:
            ``'backbone.'`` (default) for the first two, ``''`` for exported
            encoders.
        normalize (bool): L2-normalise each output token. Defaults to True.
        dtype (str | torch.dtype, optional): Dtype of the teacher's weights
            and computation: ``'float32'`` (default), ``'bfloat16'`` or
            ``'float16'``; bfloat16 halves its memory and runs its matmuls
            in bf16 without autocast's per-call weight casts (a GPU setting:
            CPUs run bf16 matmuls slowly). Outputs are float32 either way.
            The EMA variant needs float32: an EMA step of ``1 - 0.9998``
            is below bfloat16's resolution, so :meth:`ema_update` refuses
            other dtypes.

    Attributes:
        encoder (VisionTransformer3D): The frozen encoder.
    """

    def __init__(self,
                 backbone: dict,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 normalize: bool = True,
                 dtype: Optional[Union[str, torch.dtype]] = None) -> None:
        super().__init__()
        dtype = parse_teacher_dtype(dtype)
        encoder = MODELS.build(self._encoder_cfg(backbone))
        if not isinstance(encoder, VisionTransformer3D):
            raise TypeError(f'FrozenVideoTeacher needs a VisionTransformer3D '
                            f'backbone, got {type(encoder).__name__}')
        # An exported encoder's JSON must agree with `backbone` (sizes aside).
        check_exported_architecture(encoder, checkpoint)
        self._load_strict(encoder, read_encoder_state_dict(checkpoint, prefix),
                          source=checkpoint)
        self.hold('encoder', encoder.to(dtype))
        self.dtype = dtype
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.normalize = normalize

    @staticmethod
    def _encoder_cfg(backbone: dict) -> dict:
        """A copy of ``backbone`` with the forced options, checked."""
        cfg = copy.deepcopy(dict(backbone))
        cfg.setdefault('type', 'mmivnext.VisionTransformer3D')
        if cfg.get('init_cfg') is not None:
            raise ValueError(
                'The teacher backbone must not have an init_cfg: its weights '
                f'come from `checkpoint`. Got init_cfg={cfg["init_cfg"]}.')
        cfg.pop('init_cfg', None)
        for key, value in _FORCED_BACKBONE_OPTIONS.items():
            if cfg.get(key, value) != value:
                raise ValueError(
                    f'The teacher gives the last layer\'s raw tokens: its '
                    f'backbone needs {key}={value!r} (or leave it unset), got '
                    f'{cfg[key]!r}.')
            cfg[key] = value
        return cfg

    @staticmethod
    def _load_strict(encoder: nn.Module, state_dict: Mapping,
                     source: str) -> None:
        """Load ``state_dict`` into ``encoder``; any missing, unexpected or
        misfitting key raises a ValueError naming it and ``source``."""
        state_dict = OrderedDict(state_dict)  # the pre-hook edits it
        try:
            result = encoder.load_state_dict(state_dict, strict=False)
        except RuntimeError as err:  # shapes that do not fit
            raise ValueError(f'Cannot load the teacher encoder from {source}: '
                             f'{err}') from err
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f'The teacher encoder does not match {source}: missing keys '
                f'[{_key_list(result.missing_keys)}], unexpected keys '
                f'[{_key_list(result.unexpected_keys)}]. Is `backbone` the '
                f'Stage-1 encoder config and `prefix` right?')

    # ------------------------------------------------------------- properties
    @property
    def embed_dims(self) -> int:
        """Channels ``C`` of the output tokens."""
        return self.encoder.embed_dims

    @property
    def grid_size(self) -> Tuple[int, int, int]:
        """``(T', H', W')`` grid the position embedding is made for."""
        return self.encoder.grid_size

    def extra_repr(self) -> str:
        return (f'checkpoint={self.checkpoint!r}, prefix={self.prefix!r}, '
                f'normalize={self.normalize}, dtype={self.dtype}, '
                f'embed_dims={self.embed_dims}, '
                f'layers={self.encoder.num_layers}, grid={self.grid_size}')

    # ---------------------------------------------------------------- forward
    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        """Last-layer patch tokens of full clips.

        Args:
            inputs (Tensor): ``[B, C, T, H, W]`` clips, normalised as for the
                student.

        Returns:
            Tensor: float32 ``[B, N, C]``, ``N = T'H'W'`` patch tokens in
            flattened ``(t, h, w)`` order, cls tokens dropped; each token of
            unit L2 norm if ``normalize``.
        """
        tokens = self.encoder(inputs)  # [B, num_cls + N, C]
        tokens = tokens[:, self.encoder.num_cls_tokens:].float()  # [B, N, C]
        return F.normalize(tokens, dim=-1) if self.normalize else tokens

    def targets(self, inputs: Tensor) -> Tensor:
        """:meth:`forward`: the (normalised) last-layer patch tokens."""
        return self(inputs)

    # ------------------------------------------------------------------- EMA
    @torch.no_grad()
    def ema_update(self, student_backbone: nn.Module,
                   momentum: float) -> None:
        """Move every weight towards the student's: ``t = m t + (1 - m) s``.

        Parameters are matched by name; buffers (``pos_embed_grid``, a fixed
        ``pos_embed``) are left as they are.

        Args:
            student_backbone (nn.Module): The student encoder, with the same
                parameter names and shapes (unwrapped from DDP).
            momentum (float): ``m`` in ``[0, 1]``; 1 keeps the teacher.
        """
        if not 0. <= momentum <= 1.:
            raise ValueError(f'momentum must be in [0, 1], got {momentum}')
        if self.dtype != torch.float32:
            raise ValueError(
                f'ema_update needs a float32 teacher, got dtype={self.dtype}: '
                f'its EMA steps (1 - momentum) would round away.')
        teacher = dict(self.encoder.named_parameters())
        student = dict(student_backbone.named_parameters())
        if teacher.keys() != student.keys():
            raise ValueError(
                'ema_update: the student backbone has other parameters than '
                f'the teacher: only in the teacher '
                f'[{_key_list(sorted(teacher.keys() - student.keys()))}], '
                f'only in the student '
                f'[{_key_list(sorted(student.keys() - teacher.keys()))}]')
        bad = [k for k in teacher if teacher[k].shape != student[k].shape]
        if bad:
            raise ValueError(f'ema_update: parameters of other shapes in the '
                             f'student: [{_key_list(bad)}]')
        names = list(teacher)
        targets = [teacher[k] for k in names]
        sources = [student[k].detach().to(teacher[k].dtype) for k in names]
        torch._foreach_mul_(targets, momentum)
        torch._foreach_add_(targets, sources, alpha=1. - momentum)

    def encoder_state_dict(self) -> Dict[str, Tensor]:
        """The encoder's weights, detached CPU copies (for checkpoints)."""
        return OrderedDict((k, v.detach().cpu().clone())
                           for k, v in self.encoder.state_dict().items())

    def load_encoder_state_dict(self, state_dict: Mapping,
                                source: str = 'the given state dict') -> None:
        """Load weights saved by :meth:`encoder_state_dict`, strictly."""
        self._load_strict(self.encoder, state_dict, source=source)
