"""The InternVideo-Next video encoder: a ViT over 3D patches that can run on a subset
of visible tokens.

Released encoder
----------------
The authors' encoder (GitHub ``OpenGVLab/InternVideo``, class ``InternVideo2`` in
``InternVideo-Next/models/InternVideo_next.py`` and ``InternVideo_next_s1.py``;
position embedding in ``InternVideo-Next/models/pos_embed.py``) is reproduced,
parameter for parameter, by the keyword arguments
:attr:`VisionTransformer3D.RELEASED_CFG` with any ``arch`` (``'base'``,
``'large'``, ``'1b'``): ``VisionTransformer3D.released(arch='base')``, or the
same keys in a config's ``backbone``.

What the released code does, and how it maps here:

* Patch embedding: RMSNorm (eps 1e-6) over each patch's raw pixels, flattened in
  ``(tubelet, ph, pw, C)`` order, then a ``Conv3d`` with kernel = stride =
  ``(tubelet, 14, 14)``, then RMSNorm (eps 1e-6) over the embeddings. Their
  ``patch_embed.norm_before`` is our ``patch_embed.pixel_norm``;
  ``patch_embed.proj`` and ``patch_embed.norm`` keep their names.
* 4 cls tokens ``cls_token [1, 4, C]``; one learnable ``pos_embed
  [1, 4 + T'H'W', C]`` whose cls rows start at zero and whose grid rows start as
  the 3D sin-cos embedding (same layout as ours). The cls tokens are prepended and
  the whole ``pos_embed`` is added; with a mask, the masked patch tokens are
  dropped after that (``x[~mask]``, i.e. visible tokens in grid order).
* Blocks ``blocks.i``: pre-norm with RMSNorm (eps 1e-6) ``norm1`` / ``norm2``,
  ``attn.qkv`` without bias, QK RMSNorm ``attn.q_norm`` / ``attn.k_norm`` over all
  heads together (weight of size ``C``), ``attn.proj`` with bias, LayerScale
  ``ls1.gamma`` / ``ls2.gamma`` (init 1e-5), ``mlp.fc1`` / ``mlp.fc2`` with bias and
  GELU, MLP ratio 4 (base, large) or 48/11 (1B: hidden 6144). Their fused
  "dropout-add-RMSNorm" residual form computes the same function as this pre-norm
  form. There is no final norm.
* ``clip_projector`` (our ``projector``): attention pooling with the mean of all
  tokens (cls included) as query, separate LayerNorms (eps 1e-5) ``norm1_q`` /
  ``norm1_k`` / ``norm1_v``, ``cross_attn.q/k/v`` without bias in the linear layers
  but with separate ``q_bias`` / ``k_bias`` / ``v_bias`` parameters (our
  ``cross_attn.q.bias`` ...), 16 heads, ``cross_attn.proj`` to 768 channels.
* Init: trunc-normal(0.02) linear weights, zero biases, trunc-normal cls tokens,
  and the residual rescaling of our ``rescale_residual_init=True``.

A converter therefore renames ``clip_projector.`` -> ``projector.``,
``patch_embed.norm_before.`` -> ``patch_embed.pixel_norm.`` and
``cross_attn.{q,k,v}_bias`` -> ``cross_attn.{q,k,v}.bias``, drops training-only
parts (decoders, predictor, ``clip_pos_embed``...), and should add
``pos_embed_grid`` (:mod:`mmivnext.models.utils.pos_embed`).
"""
import copy
import inspect
import json
import math
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mmivnext.registry import MODELS
from mmivnext.utils.encoder_loading import load_pretrained, pretrained_init_cfg
from ..utils import (AttentionPoolingBlock, LayerScale, PatchEmbed3D,
                     TransformerEncoderLayer, build_norm, check_values,
                     init_linear_and_norm_)
from ..utils.norm import NormCfg, canonical_norm_cfg
from ..utils.pos_embed import (initial_pos_embed, pos_embed_for_grid,
                               register_pos_embed)
from ..utils.rope import grid_positions


@MODELS.register_module()
class VisionTransformer3D(BaseModule):
    """Video ViT with 3D patches, cls tokens and a visible-token forward.

    The video ``[B, C, T, H, W]`` is cut into ``(tubelet, p, p)`` patches giving a
    ``(T', H', W') = (T / tubelet, H / p, W / p)`` grid of ``N = T'H'W'`` tokens,
    flattened in ``(t, h, w)`` order (``w`` fastest). Tokens get a position
    embedding (``pos_embed_type``), then ``num_cls_tokens`` cls tokens are
    prepended and a stack of pre-norm transformer blocks runs. The module
    docstring maps the released encoder onto these options.

    **Visible tokens (mask convention).** ``forward(x, visible_indices)`` takes a
    LongTensor ``[B, K]`` of the token positions to keep, as V-JEPA 2 does: all
    patches are embedded and position-embedded, the ``K`` listed tokens are
    gathered in the given order, the cls tokens are prepended, and the blocks
    run on these ``num_cls + K`` tokens only. Masked tokens are the ones not
    listed. The indices are not checked for duplicates.

    Checkpoints made for another grid load, and inputs of another size than
    ``(num_frames, img_size)`` are accepted: the position embedding is resized
    or rebuilt (:mod:`mmivnext.models.utils.pos_embed`).

    Args:
        arch (str | dict): ``'base'`` / ``'b'`` (768 wide, 12 layers, 12 heads,
            MLP 3072), ``'large'`` / ``'l'`` (1024, 24, 16, 4096), ``'1b'``
            (1408, 40, 16, 6144), or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads`` and one of ``feedforward_channels`` / ``mlp_ratio``.
            Defaults to ``'base'``.
        img_size (int | Sequence[int]): Input size ``H`` or ``(H, W)`` the
            position embedding is made for. Defaults to 224.
        num_frames (int): Input frames ``T`` the position embedding is made for.
            Defaults to 16.
        patch_size (int): Spatial patch size ``p``. Defaults to 14.
        tubelet_size (int): Frames per patch. Defaults to 1.
        in_channels (int): Input channels. Defaults to 3.
        num_cls_tokens (int): Number of cls tokens (0 allowed). Defaults to 4.
        qkv_bias (bool): Bias on the qkv projections. Defaults to True.
        qk_norm (str | dict | None): Norm of queries and keys: None,
            ``'layernorm'``, ``'rmsnorm'`` (eps 1e-6) or a norm config.
            Defaults to None.
        qk_norm_across_heads (bool): Apply the QK norm over all heads together
            (weight of size ``C``, the released encoder) instead of per head
            (weight of size ``C / heads``). Defaults to False.
        layer_scale_init_value (float): LayerScale init; 0 disables LayerScale.
            Defaults to 0.
        drop_rate (float): Dropout after the position embedding, the attention
            projection and in the MLPs. Defaults to 0.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate of the last block; block
            ``i`` gets ``drop_path_rate * i / (num_layers - 1)``. Defaults to 0.
        norm_cfg (str | dict): Norm of the blocks and of the final norm, e.g.
            ``dict(type='RMSNorm', eps=1e-6)``. Defaults to
            ``dict(type='LN', eps=1e-6)``.
        final_norm (bool): Apply a norm (``norm``) to the last block's output.
            Outputs of earlier layers are never normalised. Defaults to True.
        patch_pixel_norm_cfg (str | dict | None): Norm over raw patch pixels
            before the patch projection. Defaults to None.
        patch_norm_cfg (str | dict | None): Norm over the patch embeddings after
            the projection. Defaults to None.
        pos_embed_learnable (bool): Learnable (parameter) or fixed (buffer)
            position embedding (no effect with ``'rope_3d'``). Defaults to
            True.
        projector_cfg (dict, optional): Keyword arguments of an
            :class:`~mmivnext.models.utils.attention.AttentionPoolingBlock`
            (``embed_dims`` is set) built as ``projector``; needed for
            ``out_type='projected'``. Defaults to None.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned;
            negative values count from the end. An int returns one tensor (the
            mmaction2 convention, so mmaction2 heads can consume it); a sequence
            returns a tuple with one entry per index, in the given order
            (mmpretrain convention), e.g. ``(-6, -5, -4, -3, -2, -1)``. Blocks
            after the deepest requested one are not run. Defaults to -1.
        out_type (str): Form of each output, for ``num_cls`` cls tokens and ``K``
            kept tokens (``K = N`` without ``visible_indices``):

            - ``'raw'``: tokens ``[B, num_cls + K, C]``, cls tokens first;
            - ``'cls_token'``: mean of the cls tokens ``[B, C]``;
            - ``'avg_featmap'``: mean of the patch tokens ``[B, C]``;
            - ``'featmap'``: patch tokens as ``[B, C, T', H', W']``; needs all
              tokens (no ``visible_indices``);
            - ``'projected'``: ``projector`` applied to all tokens (cls
              included), ``[B, out_dims]`` (``[B, Q, out_dims]`` with ``Q > 1``
              learnable queries). The projector is applied to every requested
              layer; the released one was trained on the last layer.

            Defaults to ``'raw'``.
        with_cp (bool): Activation checkpointing of every block
            (``torch.utils.checkpoint``, non-reentrant), only in training mode
            with grad enabled. Defaults to False.
        frozen_stages (int): -1 freezes nothing; ``n >= 0`` freezes the patch
            embedding, position embedding, cls tokens and the first ``n`` blocks
            (``requires_grad=False``, kept in eval mode by ``train()``);
            ``n = num_layers`` also freezes the final norm and the projector.
            Defaults to -1.
        rescale_residual_init (bool): In the default init, divide the weights of
            ``attn.proj`` and ``mlp.fc2`` of block ``i`` by ``sqrt(2 (i + 1))``,
            as the released code does. Defaults to False.
        pos_embed_type (str): ``'sincos_3d'``, ``'sinusoid_1d'`` or
            ``'rope_3d'`` (needs ``num_cls_tokens=0``), the schemes of
            :mod:`mmivnext.models.utils.pos_embed`. Defaults to
            ``'sincos_3d'``.
        fc_norm (bool): Build a norm ``fc_norm`` (``norm_cfg``) applied to the
            mean of the patch tokens in ``out_type='avg_featmap'``, for every
            requested layer (VideoMAE / BEiT mean pooling, usually with
            ``final_norm=False``). Defaults to False.
        init_cfg (dict | list[dict], optional): See :meth:`init_weights`.
            Defaults to None.
    """

    arch_zoo = {
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=768, num_layers=12, num_heads=12,
            feedforward_channels=3072)),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=1024, num_layers=24, num_heads=16,
            feedforward_channels=4096)),
        '1b': dict(
            embed_dims=1408, num_layers=40, num_heads=16,
            feedforward_channels=6144),
    }
    ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads')
    OUT_TYPES = ('raw', 'cls_token', 'avg_featmap', 'featmap', 'projected')

    #: Keyword arguments that reproduce the released InternVideo-Next encoder,
    #: for any ``arch`` (module docstring).
    RELEASED_CFG = dict(
        patch_size=14,
        tubelet_size=1,
        num_cls_tokens=4,
        qkv_bias=False,
        qk_norm='rmsnorm',
        qk_norm_across_heads=True,
        layer_scale_init_value=1e-5,
        norm_cfg=dict(type='RMSNorm', eps=1e-6),
        final_norm=False,
        patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        pos_embed_learnable=True,
        rescale_residual_init=True,
        projector_cfg=dict(
            num_heads=16, out_dims=768, qkv_bias=True,
            norm_cfg=dict(type='LN', eps=1e-5), query='mean'),
    )

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 224,
                 num_frames: int = 16,
                 patch_size: int = 14,
                 tubelet_size: int = 1,
                 in_channels: int = 3,
                 num_cls_tokens: int = 4,
                 qkv_bias: bool = True,
                 qk_norm: NormCfg = None,
                 qk_norm_across_heads: bool = False,
                 layer_scale_init_value: float = 0.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: NormCfg = None,
                 final_norm: bool = True,
                 patch_pixel_norm_cfg: NormCfg = None,
                 patch_norm_cfg: NormCfg = None,
                 pos_embed_learnable: bool = True,
                 projector_cfg: Optional[dict] = None,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'raw',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 rescale_residual_init: bool = False,
                 pos_embed_type: str = 'sincos_3d',
                 fc_norm: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        init_args = {k: v for k, v in locals().items()
                     if k not in ('self', '__class__')}
        super().__init__(init_cfg=init_cfg)
        #: What given weights compute with (:meth:`structural_args`).
        self.structure = self.structural_args(init_args)
        arch_settings = self._parse_arch(arch)
        self.embed_dims = arch_settings['embed_dims']
        self.num_layers = arch_settings['num_layers']
        self.num_heads = arch_settings['num_heads']
        self.feedforward_channels = arch_settings['feedforward_channels']
        if norm_cfg is None:
            norm_cfg = dict(type='LN', eps=1e-6)

        img_size = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)
        if len(img_size) != 2 or img_size[0] % patch_size or \
                img_size[1] % patch_size or num_frames % tubelet_size:
            raise ValueError(
                f'img_size {img_size} must be a multiple of patch_size '
                f'{patch_size} and num_frames {num_frames} a multiple of '
                f'tubelet_size {tubelet_size}.')
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.in_channels = in_channels
        #: The (T', H', W') token grid the position embedding is made for.
        self.grid_size: Tuple[int, int, int] = (
            num_frames // tubelet_size, img_size[0] // patch_size,
            img_size[1] // patch_size)
        self.num_patches = math.prod(self.grid_size)

        if num_cls_tokens < 0:
            raise ValueError(f'num_cls_tokens must be >= 0, got '
                             f'{num_cls_tokens}.')
        self.num_cls_tokens = num_cls_tokens
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type must be one of {self.OUT_TYPES}, got '
                             f'{out_type!r}.')
        if out_type == 'cls_token' and num_cls_tokens == 0:
            raise ValueError("out_type='cls_token' needs num_cls_tokens > 0.")
        if out_type == 'projected' and projector_cfg is None:
            raise ValueError("out_type='projected' needs a projector_cfg.")
        self.out_type = out_type
        self._single_output = isinstance(out_indices, int)
        self.out_indices = self._parse_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_layers:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_layers}]'
                             f', got {frozen_stages}.')
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.final_norm = final_norm
        self.layer_scale_init_value = layer_scale_init_value
        self.rescale_residual_init = rescale_residual_init

        self.patch_embed = PatchEmbed3D(
            in_channels, self.embed_dims, patch_size=patch_size,
            tubelet_size=tubelet_size, pixel_norm_cfg=patch_pixel_norm_cfg,
            norm_cfg=patch_norm_cfg)
        if num_cls_tokens > 0:
            self.cls_token = nn.Parameter(
                torch.zeros(1, num_cls_tokens, self.embed_dims))
        else:
            self.cls_token = None
        # pos_embed_type / _learnable, pos_embed, pos_embed_grid, load hooks
        register_pos_embed(self, pos_embed_type, pos_embed_learnable)
        self.drop_after_pos = nn.Dropout(drop_rate)

        dpr = [drop_path_rate * i / max(self.num_layers - 1, 1)
               for i in range(self.num_layers)]  # linear in depth
        self.blocks = nn.ModuleList([
            TransformerEncoderLayer(
                self.embed_dims, self.num_heads, self.feedforward_channels,
                qkv_bias=qkv_bias, qk_norm=qk_norm,
                qk_norm_across_heads=qk_norm_across_heads,
                layer_scale_init_value=layer_scale_init_value,
                drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[i], norm_cfg=norm_cfg)
            for i in range(self.num_layers)
        ])
        self.norm = build_norm(norm_cfg, self.embed_dims) if final_norm \
            else None
        self.fc_norm = build_norm(norm_cfg, self.embed_dims) if fc_norm \
            else None
        self.projector = None
        if projector_cfg is not None:
            self.projector = AttentionPoolingBlock(self.embed_dims,
                                                   **projector_cfg)
        self._default_init()
        self._freeze_stages()

    @classmethod
    def released(cls, arch: Union[str, dict] = 'base',
                 **kwargs) -> 'VisionTransformer3D':
        """Build with :attr:`RELEASED_CFG`, overridden by ``kwargs``."""
        return cls(arch=arch, **{**copy.deepcopy(cls.RELEASED_CFG), **kwargs})

    # ------------------------------------------------------------------ config
    #: Constructor arguments that do not change what given weights compute:
    #: input sizes (the position embedding is resized to them), training,
    #: output and init options.
    NON_STRUCTURAL_ARGS = ('img_size', 'num_frames', 'drop_rate',
                           'attn_drop_rate', 'drop_path_rate', 'with_cp',
                           'frozen_stages', 'out_indices', 'out_type',
                           'pos_embed_learnable', 'rescale_residual_init',
                           'init_cfg', 'type')

    @classmethod
    def structural_args(cls, kwargs: Mapping) -> dict:
        """The arguments in ``kwargs`` that decide what given weights compute.

        Two encoders whose results are equal compute the same function of the
        same weights (at any input size). Used to check a config against the
        architecture JSON of an exported encoder when it is loaded.

        Args:
            kwargs (Mapping): ``VisionTransformer3D`` keyword arguments, as in
                a config's ``backbone`` or an exported encoder's JSON
                (missing ones take their defaults).

        Returns:
            dict: JSON-like values: ``arch`` resolved to ``embed_dims``,
            ``num_layers``, ``num_heads``, ``feedforward_channels``; norms
            in canonical form (:func:`~mmivnext.models.utils.norm.
            canonical_norm_cfg`); LayerScale as on / off; the projector's
            arguments with their defaults; :attr:`NON_STRUCTURAL_ARGS`
            dropped.

        Raises:
            ValueError: An argument ``VisionTransformer3D`` does not take.
        """
        params = inspect.signature(cls.__init__).parameters
        unknown = sorted(set(kwargs) - set(params) - {'type'})
        if unknown:
            raise ValueError(f'not VisionTransformer3D arguments: {unknown}')
        args = {name: p.default for name, p in params.items()
                if name != 'self'}
        args.update(kwargs)
        out = dict(cls._parse_arch(args.pop('arch')))
        for name, value in args.items():
            if name in cls.NON_STRUCTURAL_ARGS:
                continue
            if name.endswith('norm_cfg') or name == 'qk_norm':
                value = canonical_norm_cfg(value)
            elif name == 'layer_scale_init_value':
                name, value = 'layer_scale', value > 0
            elif name == 'projector_cfg' and value is not None:
                pool = inspect.signature(AttentionPoolingBlock.__init__)
                value = {**{k: p.default for k, p in pool.parameters.items()
                            if k not in ('self', 'embed_dims')}, **value}
                value['norm_cfg'] = canonical_norm_cfg(value['norm_cfg'])
                value.pop('attn_drop'), value.pop('proj_drop')
            out[name] = value
        if out['norm_cfg'] is None:  # the constructor's default
            out['norm_cfg'] = canonical_norm_cfg(dict(type='LN', eps=1e-6))
        return json.loads(json.dumps(out))

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        """Return ``embed_dims``, ``num_layers``, ``num_heads`` and
        ``feedforward_channels`` of ``arch``; raise ValueError if invalid."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'Unknown arch {arch!r}; choose one of '
                                 f'{sorted(cls.arch_zoo)} or give a dict.')
            return dict(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be a str or a dict, got {type(arch)}.')
        missing = [k for k in cls.ARCH_KEYS if k not in arch]
        mlp_keys = [k for k in ('feedforward_channels', 'mlp_ratio')
                    if k in arch]
        unknown = sorted(set(arch) - set(cls.ARCH_KEYS) -
                         {'feedforward_channels', 'mlp_ratio'})
        if missing or len(mlp_keys) != 1 or unknown:
            raise ValueError(
                f'A custom arch needs the keys {list(cls.ARCH_KEYS)} and '
                f'exactly one of feedforward_channels / mlp_ratio; missing '
                f'{missing}, MLP keys given {mlp_keys}, unknown keys {unknown}.')
        settings = {k: int(arch[k]) for k in cls.ARCH_KEYS}
        settings['feedforward_channels'] = int(
            arch['feedforward_channels'] if 'feedforward_channels' in arch else
            settings['embed_dims'] * arch['mlp_ratio'])
        return settings

    def _parse_out_indices(self, out_indices: Union[int, Sequence[int]]
                           ) -> Tuple[int, ...]:
        """Normalise ``out_indices`` to non-negative block indices."""
        indices = [out_indices] if isinstance(out_indices, int) \
            else list(out_indices)
        parsed = tuple(i + self.num_layers if i < 0 else i for i in indices)
        if not parsed or any(not 0 <= i < self.num_layers for i in parsed) \
                or len(set(parsed)) != len(parsed):
            raise ValueError(
                f'out_indices must be distinct block indices in '
                f'[-{self.num_layers}, {self.num_layers - 1}], got '
                f'{out_indices}.')
        return parsed

    # ------------------------------------------------------- freezing / init
    def _frozen_modules(self) -> list:
        if self.frozen_stages < 0:
            return []
        modules = [self.patch_embed, self.drop_after_pos,
                   *self.blocks[:self.frozen_stages]]
        if self.frozen_stages == self.num_layers:
            modules += [m for m in (self.norm, self.fc_norm, self.projector)
                        if m is not None]
        return modules

    def _freeze_stages(self) -> None:
        """Set ``requires_grad=False`` on the frozen parts (see
        ``frozen_stages``) and put them in eval mode."""
        if self.frozen_stages < 0:
            return
        for param in (self.cls_token, self.pos_embed):
            if isinstance(param, nn.Parameter):
                param.requires_grad = False
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'VisionTransformer3D':
        """Set the training mode, keeping frozen parts in eval mode."""
        super().train(mode)
        if mode:
            for module in self._frozen_modules():
                module.eval()
        return self

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (:mod:`mmivnext.models.utils.init`); a
        ``Pretrained`` entry loads strictly, unlike MMEngine's
        (:func:`~mmivnext.utils.encoder_loading.load_pretrained`)."""
        pretrained = pretrained_init_cfg(self.init_cfg)
        if pretrained is None:
            super().init_weights()
        elif not self.is_init:
            load_pretrained(self, pretrained)

    @torch.no_grad()
    def _default_init(self) -> None:
        """The init at construction (:mod:`mmivnext.models.utils.init`)."""
        init_linear_and_norm_(self, std=.02)
        for m in self.modules():
            if isinstance(m, LayerScale):
                m.reset_parameters()
        proj = self.patch_embed.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        nn.init.zeros_(proj.bias)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=.02)
        if self.projector is not None and self.projector.query_type == \
                'learnable':
            nn.init.trunc_normal_(self.projector.query, std=.02)
        if self.pos_embed is not None:
            self.pos_embed.copy_(initial_pos_embed(
                self.pos_embed_type, self.embed_dims, self.grid_size,
                self.num_cls_tokens))
        if self.rescale_residual_init:
            for i, block in enumerate(self.blocks):
                block.attn.proj.weight.div_(math.sqrt(2. * (i + 1)))
                block.mlp.fc2.weight.div_(math.sqrt(2. * (i + 1)))

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple:
        """Layer depth of a parameter, for layer-wise learning-rate decay.

        As mmpretrain's ``VisionTransformer.get_layer_depth``: with
        ``num_layers + 2`` depths, the patch embedding, cls tokens and position
        embedding get 0, ``blocks.i`` gets ``i + 1``, and everything else (final
        norm, projector, and parameters outside ``prefix``, e.g. a head) gets
        ``num_layers + 1``.

        Args:
            param_name (str): Parameter name, e.g.
                ``'backbone.blocks.3.attn.qkv.weight'``.
            prefix (str): Prefix of this module's parameters, e.g.
                ``'backbone.'``. Defaults to ``''``.

        Returns:
            tuple[int, int]: ``(layer_depth, num_layers + 2)``.
        """
        num_depths = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_depths - 1, num_depths
        name = param_name[len(prefix):]
        if name in ('cls_token', 'pos_embed') or name.startswith('patch_embed'):
            return 0, num_depths
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_depths
        return num_depths - 1, num_depths

    # ---------------------------------------------------------------- forward
    def _check_inputs(self, inputs: Tensor) -> Tuple[int, int, int]:
        """Validate ``inputs`` and return its token grid ``(T', H', W')``."""
        if not torch.is_tensor(inputs) or inputs.dim() != 5 or \
                inputs.shape[1] != self.in_channels:
            shape = tuple(inputs.shape) if torch.is_tensor(inputs) \
                else type(inputs)
            raise ValueError(f'inputs must be a [B, {self.in_channels}, T, H, '
                             f'W] tensor, got {shape}.')
        if not inputs.is_floating_point():
            raise TypeError(f'inputs must be floating point (normalised), got '
                            f'{inputs.dtype}.')
        _, _, T, H, W = inputs.shape
        if T % self.tubelet_size or H % self.patch_size or W % self.patch_size:
            raise ValueError(
                f'Input of {T} frames at {H}x{W} does not split into '
                f'({self.tubelet_size}, {self.patch_size}, {self.patch_size}) '
                f'patches.')
        return (T // self.tubelet_size, H // self.patch_size,
                W // self.patch_size)

    @staticmethod
    def _check_visible_indices(indices: Tensor, batch_size: int,
                               num_patches: int) -> Tensor:
        """Validate ``visible_indices`` and return it as int64."""
        if not torch.is_tensor(indices) or indices.dtype not in (torch.int64,
                                                                 torch.int32):
            dtype = indices.dtype if torch.is_tensor(indices) else type(indices)
            raise TypeError(
                f'visible_indices must be an integer (torch.long) tensor of '
                f'token positions, got {dtype}; turn a boolean keep-mask into '
                f'indices with mask.nonzero() or mask.float().argsort().')
        if indices.dim() != 2 or indices.shape[0] != batch_size or \
                indices.shape[1] < 1:
            raise ValueError(
                f'visible_indices must have shape [B={batch_size}, K>=1], got '
                f'{tuple(indices.shape)}.')
        check_values((indices >= 0) & (indices < num_patches),
                     f'visible_indices must lie in [0, {num_patches}) (the '
                     f'number of patch tokens).')
        return indices.long()

    @property
    def use_rope(self) -> bool:
        """Whether positions enter by 3D RoPE (``pos_embed_type='rope_3d'``)
        rather than an added position embedding."""
        return self.pos_embed_type == 'rope_3d'

    def _format_output(self, x: Tensor, grid: Tuple[int, int, int]) -> Tensor:
        """Turn tokens ``[B, num_cls + K, C]`` into the ``out_type`` form."""
        if self.out_type == 'raw':
            return x
        if self.out_type == 'projected':
            x = self.projector(x)  # [B, Q, D]
            return x.squeeze(1) if x.shape[1] == 1 else x
        cls_tokens = x[:, :self.num_cls_tokens]  # [B, num_cls, C]
        patch_tokens = x[:, self.num_cls_tokens:]  # [B, K, C]
        if self.out_type == 'cls_token':
            return cls_tokens.mean(dim=1)  # [B, C]
        if self.out_type == 'avg_featmap':
            pooled = patch_tokens.mean(dim=1)  # [B, C]
            return pooled if self.fc_norm is None else self.fc_norm(pooled)
        B, _, C = patch_tokens.shape  # featmap
        return patch_tokens.reshape(B, *grid, C).permute(
            0, 4, 1, 2, 3).contiguous()  # [B, C, T', H', W']

    def forward(self,
                inputs: Tensor,
                visible_indices: Optional[Tensor] = None
                ) -> Union[Tensor, Tuple[Tensor, ...]]:
        """Encode a video, or only its visible tokens.

        Args:
            inputs (Tensor): Normalised video ``[B, C, T, H, W]``.
            visible_indices (Tensor, optional): LongTensor ``[B, K]`` of the
                patch-token positions to keep, in flattened ``(t, h, w)`` order
                (class docstring). None keeps all ``N`` tokens.

        Returns:
            Tensor | tuple[Tensor]: One output per ``out_indices`` entry, in the
            ``out_type`` form; a tensor if ``out_indices`` is an int.
        """
        grid = self._check_inputs(inputs)
        if visible_indices is not None and self.out_type == 'featmap':
            raise ValueError("out_type='featmap' needs all tokens; it cannot "
                             'be used with visible_indices.')
        x = self.patch_embed(inputs.to(self.patch_embed.proj.weight.dtype))
        B, N, C = x.shape  # [B, N, C]
        rope_positions = index = None
        if not self.use_rope:
            pos_embed = pos_embed_for_grid(self, grid)  # [1, num_cls + N, C]
            x = x + pos_embed[:, self.num_cls_tokens:]
        if visible_indices is not None:
            index = self._check_visible_indices(visible_indices, B, N)
            index = index.to(x.device)
            x = torch.gather(x, 1, index.unsqueeze(-1).expand(
                -1, -1, C))  # [B, K, C]
        if self.use_rope:  # (t, h, w) of each kept token
            rope_positions = grid_positions(
                grid, index, device=x.device)  # [B or 1, K, 3]
        if self.cls_token is not None:
            cls_tokens = self.cls_token + pos_embed[:, :self.num_cls_tokens]
            x = torch.cat([cls_tokens.expand(B, -1, -1), x], dim=1)
        x = self.drop_after_pos(x)  # [B, num_cls + K, C]

        use_cp = self.with_cp and self.training and torch.is_grad_enabled()
        outs = {}
        for i, block in enumerate(self.blocks[:max(self.out_indices) + 1]):
            if use_cp:
                x = checkpoint(block, x, rope_positions, use_reentrant=False)
            else:
                x = block(x, rope_positions)  # [B, num_cls + K, C]
            if i == self.num_layers - 1 and self.norm is not None:
                x = self.norm(x)
            if i in self.out_indices:
                outs[i] = self._format_output(x, grid)
        outs = tuple(outs[i] for i in self.out_indices)
        return outs[0] if self._single_output else outs
