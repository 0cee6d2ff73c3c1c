"""The InternVideo-Next predictor ("latent world model"): the last layers of a
text encoder, ModernBERT-Large, run over the video token grid.

What the authors' code does
---------------------------
Read in GitHub ``OpenGVLab/InternVideo``, folder ``InternVideo-Next/models/``:
``InternVideo_next_s1.py`` (``InternVideo2.__init__`` and
``forward_reconstruction_loss``) and ``InternVideo_next_s2.py`` (the same
predictor, kept in Stage 2):

* ``ModernBertForMaskedLM.from_pretrained('answerdotai/ModernBERT-large')`` (in
  bfloat16), its ``.model``, and ``layers = layers[-5:]``: the original layers
  23..27 keep their own attention type and RoPE base (27 and 24 global with
  base 160000, 23, 25, 26 local with a 128-token window, base 10000). The
  ablation "last5 w/o init" builds the same model from the ModernBERT-large
  config with ModernBERT's random init.
* Neither ModernBERT's embedding block (its LayerNorm) nor its ``final_norm``
  runs: the layers' output goes straight to the diffusion head (Stage 1) or
  the latent-regression projection (Stage 2). Here too: no final norm.
* Before the layers, in the encoder width: the masked positions take a
  learnable mask token (``bert_mask_token``, trunc-normal 0.02), the visible
  ones the encoder's tokens; a separate learnable position embedding
  (``diff_pos_embed``, 3D sin-cos, zero cls rows) is added to all tokens, cls
  included; then ``to_bert_proj`` (``Linear(C, C) - GELU - Linear(C, 1024) -
  LayerNorm(1024, eps 1e-5)``, trunc-normal 0.02 init) gives the 1024-wide
  input of the layers. See :class:`~.base_predictor.BasePredictor`.
* The layers run with flash-attn's varlen interface on ``num_cls + N`` tokens
  per clip in grid order (cls first), RoPE positions ``0 .. L-1`` per clip.
  Here they are transformers' ``ModernBertEncoderLayer`` s run with PyTorch's
  SDPA (:mod:`.modernbert_layer`), on any device; the local layers only
  compute the blocks of scores their window reaches (``local_attn_kernel``).

A converter of their Stage-1 checkpoint would map ``bert_mask_token`` ->
``mask_token``, ``diff_pos_embed`` -> ``pos_embed``, ``to_bert_proj.head.0`` /
``head.2`` / ``norm`` -> ``proj.fc1`` / ``proj.fc2`` / ``proj.norm`` and
``bert_decoder.layers.`` -> ``layers.``.
"""
import os
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mmivnext.registry import MODELS
from .base_predictor import BasePredictor
from .modernbert_layer import (ModernBertLayer, SlidingWindow,
                               rotary_cos_sin, sliding_window_block_mask,
                               sliding_window_mask)


def _checkpoint_path(pretrained: str) -> str:
    """``pretrained`` with ``~`` expanded; FileNotFoundError if it is a path
    (absolute, starting with ``.`` or ``~``, or with more than the one ``/`` of
    a Hugging Face id) that is not a folder."""
    path = os.path.expanduser(pretrained)
    looks_local = os.path.isabs(path) or pretrained.startswith('.') or \
        pretrained.count('/') > 1
    if looks_local and not os.path.isdir(path):
        raise FileNotFoundError(
            f'pretrained={pretrained!r}: no such ModernBERT checkpoint folder.')
    return path


def _load_modernbert_config(pretrained: Union[str, dict]):
    """A ``ModernBertConfig`` from a checkpoint name / folder or a dict."""
    from transformers import ModernBertConfig

    if isinstance(pretrained, dict):
        return ModernBertConfig(**pretrained)
    path = _checkpoint_path(pretrained)
    try:
        return ModernBertConfig.from_pretrained(path)
    except OSError as e:
        raise OSError(f'Cannot read the ModernBERT config of pretrained='
                      f'{pretrained!r} (a local folder or a Hugging Face model '
                      f'id): {e}') from e


def _load_modernbert_layers(pretrained: str, layer_indices: Sequence[int]
                            ) -> dict:
    """State dicts ``{layer_idx: state_dict}`` of some layers of a checkpoint.

    The whole model is loaded by ``transformers`` (any format, sharded or not,
    a ``ModernBertForMaskedLM`` checkpoint too) and dropped again once the
    layers are copied out.
    """
    from transformers import ModernBertModel

    path = _checkpoint_path(pretrained)
    try:
        model = ModernBertModel.from_pretrained(
            path, dtype=torch.float32, attn_implementation='eager')
    except OSError as e:
        raise OSError(f'Cannot load the ModernBERT weights of pretrained='
                      f'{pretrained!r}: {e}') from e
    states = {i: model.layers[i].state_dict() for i in layer_indices}
    del model  # the other parameters are freed here
    return states


@MODELS.register_module()
class ModernBertPredictor(BasePredictor):
    """Predictor made of the last ``num_layers`` layers of a ModernBERT model.

    See the module docstring for what the authors do, and
    :class:`~.base_predictor.BasePredictor` for the inputs, outputs and the
    shared input pipeline (mask token, position embedding, projection to the
    ModernBERT width ``D = hidden_size``, 1024 for ModernBERT-large).

    The layers are :class:`~.modernbert_layer.ModernBertLayer` s, named
    ``layers.0 .. layers.{k-1}`` like the checkpoint's layers
    ``n-k .. n-1`` (``layer_indices``), each keeping its global / local
    attention and RoPE base. They run on ``L = num_cls + N`` tokens with RoPE
    positions ``0 .. L-1``; a local layer's token attends to the tokens at most
    ``local_attention // 2`` positions away in this 1-D order. No final norm.

    Args:
        in_dims (int): Encoder width ``C``.
        grid_size (Sequence[int]): Token grid ``(T', H', W')``, e.g.
            ``(16, 16, 16)`` for 16 frames at 224 px with 14-px patches.
        num_cls_tokens (int): Encoder cls tokens. Defaults to 4.
        num_layers (int): ``k``, how many of the last layers to take: 5 (the
            paper), 2 or 8 (ablations). Defaults to 5.
        pretrained (str | dict): A Hugging Face model id or a local folder
            with a ModernBERT checkpoint (``config.json`` + weights), or, with
            ``init='none'`` only, the ``ModernBertConfig`` arguments as a dict.
            Defaults to ``'answerdotai/ModernBERT-large'``.
        init (str): ``'pretrained'`` copies the checkpoint's last ``k``
            layers; ``'none'`` builds them from the config with ModernBERT's
            random init (the "w/o init" ablation; only ``config.json`` is read).
            Defaults to ``'pretrained'``.
        with_cp (bool): Gradient checkpointing of each layer while training.
            Defaults to False.
        local_attn_kernel (str): How the local layers attend (all three
            compute the same attention):

            * ``'blocked'``: SDPA over query blocks of ``local_attention``
              tokens, each with the keys its window reaches, about
              ``2 local_attention`` keys per query instead of ``L``. Any
              device, no compilation, with gradients; the default, because
              it is the one fast kernel that trains everywhere
              (``docs/benchmarks.md`` has its step times).
            * ``'flex'``: ``torch.nn.attention.flex_attention`` with a
              sliding-window ``BlockMask``, compiled with ``torch.compile``
              on first use; for GPUs (torch 2.13 has no FlexAttention
              backward on CPU).
            * ``'dense'``: SDPA over all ``L`` tokens with a boolean mask
              (the reference, and the fallback).

            Defaults to ``'blocked'``.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    INITS = ('pretrained', 'none')
    LOCAL_ATTN_KERNELS = ('blocked', 'flex', 'dense')

    def __init__(self,
                 in_dims: int,
                 grid_size: Sequence[int],
                 num_cls_tokens: int = 4,
                 num_layers: int = 5,
                 pretrained: Union[str, dict] = 'answerdotai/ModernBERT-large',
                 init: str = 'pretrained',
                 with_cp: bool = False,
                 local_attn_kernel: str = 'blocked',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if init not in self.INITS:
            raise ValueError(f'init must be one of {self.INITS}, got {init!r}.')
        if local_attn_kernel not in self.LOCAL_ATTN_KERNELS:
            raise ValueError(f'local_attn_kernel must be one of '
                             f'{self.LOCAL_ATTN_KERNELS}, got '
                             f'{local_attn_kernel!r}.')
        if isinstance(pretrained, dict) and init == 'pretrained':
            raise ValueError("init='pretrained' needs a checkpoint name or "
                             'folder as pretrained, got a config dict.')
        if not isinstance(pretrained, (str, dict)):
            raise TypeError(f'pretrained must be a str or a dict, got '
                            f'{type(pretrained)}.')
        config = _load_modernbert_config(pretrained)
        total = config.num_hidden_layers
        if not 1 <= num_layers <= total:
            raise ValueError(f'num_layers must be in [1, {total}] (the layers '
                             f'of the ModernBERT checkpoint), got {num_layers}.')
        super().__init__(in_dims, config.hidden_size, grid_size,
                         num_cls_tokens, init_cfg=init_cfg)
        self.num_layers = num_layers
        self.init = init
        self.with_cp = with_cp
        self.local_attn_kernel = local_attn_kernel
        #: Indices of ``layers`` in the original ModernBERT model.
        self.layer_indices: Tuple[int, ...] = tuple(
            range(total - num_layers, total))
        self.layers = nn.ModuleList(
            ModernBertLayer(config, i) for i in self.layer_indices)

        if init == 'pretrained':
            states = _load_modernbert_layers(pretrained, self.layer_indices)
            for layer, i in zip(self.layers, self.layer_indices):
                layer.load_state_dict(states[i])
            print_log(f'ModernBertPredictor: loaded layers {self.layer_indices}'
                      f' of {pretrained}.', logger='current')
        else:
            std = config.initializer_range
            cutoff = config.initializer_cutoff_factor or 3.
            for layer in self.layers:
                layer.reset_parameters(std, std / (2. * total)**.5, cutoff)

    def _local_mask(self, seq_len: int, half_window: int,
                    device: torch.device):
        """The mask of a local layer in :attr:`local_attn_kernel`'s form."""
        if self.local_attn_kernel == 'blocked':
            return SlidingWindow(half_window, max(2 * half_window, 1))
        if self.local_attn_kernel == 'flex':
            return sliding_window_block_mask(seq_len, half_window, device)
        return sliding_window_mask(seq_len, half_window, device)

    def _forward_layers(self, x: Tensor) -> Tensor:
        """Run the layers: ``[B, L, D]`` -> ``[B, L, D]``."""
        L = x.shape[1]
        ropes, masks = {}, {}  # per attention type / per local reach
        use_cp = self.with_cp and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            kind = layer.attention_type  # fixes the RoPE base
            if kind not in ropes:
                ropes[kind] = rotary_cos_sin(layer.config, kind, L, x.device)
            mask = None
            if not layer.is_global:
                if layer.half_window not in masks:
                    masks[layer.half_window] = self._local_mask(
                        L, layer.half_window, x.device)
                mask = masks[layer.half_window]
            rope = ropes[kind]
            if use_cp:
                x = checkpoint(layer, x, rope, mask, use_reentrant=False)
            else:
                x = layer(x, rope, mask)  # [B, L, D]
        return x
