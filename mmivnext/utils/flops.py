"""Analytic FLOP counts of the parts of a pretraining step.

Conventions (those of model FLOP utilisation, MFU):

* one multiply-add is 2 FLOPs, and only matrix products are counted: linear
  layers, patch-embedding convolutions, and the two products of attention
  (``Q K^T`` and ``A V``, ``4 * q_tokens * kv_tokens * dims``). Norms,
  activations, softmax and elementwise ops are left out (they are memory
  bound and a few percent of a ViT's FLOPs);
* a sliding-window layer (ModernBERT's local layers) counts the query-key
  pairs inside its window (:func:`sliding_window_pairs`), whichever kernel
  runs it: the dense fallback computes all scores and masks most of them,
  the blocked kernel about twice the window (hardware FLOPs, not counted);
* a trained part's backward costs twice its forward (the gradients of its
  inputs and of its weights), so its step costs ``3 x`` its forward
  (:data:`TRAIN_FACTOR`); a frozen teacher runs its forward only;
* recomputation by activation checkpointing is not counted (model FLOPs,
  not hardware FLOPs).

Every count is per clip (batch 1); multiply by the batch size. The formulas
read the layer sizes from the modules themselves, and
``tests/test_utils/test_flops.py`` checks each against
``torch.utils.flop_counter.FlopCounterMode`` on tiny models.
"""
from typing import Iterable, Optional

from torch import nn

#: Forward + backward of a trained part, in units of its forward.
TRAIN_FACTOR = 3


def linear_flops(layer: nn.Linear, tokens: int) -> int:
    """FLOPs of ``layer`` applied to ``tokens`` vectors."""
    return 2 * tokens * layer.in_features * layer.out_features


def attention_flops(q_tokens: int, kv_tokens: int, dims: int) -> int:
    """FLOPs of ``softmax(Q K^T) V`` for ``q_tokens`` queries over
    ``kv_tokens`` keys, all heads together ``dims`` wide."""
    return 4 * q_tokens * kv_tokens * dims


def sliding_window_pairs(tokens: int, half_window: int) -> int:
    """Query-key pairs ``(i, j)`` of ``tokens`` tokens with ``|i - j| <=
    half_window``: ``L (2 w + 1) - w (w + 1)``, ``w = min(half_window,
    L - 1)`` (the window clipped at both ends of the sequence)."""
    w = min(half_window, tokens - 1)
    return tokens * (2 * w + 1) - w * (w + 1)


def tokenwise_flops(module: nn.Module, tokens: int) -> int:
    """FLOPs of a module that applies each of its ``nn.Linear`` layers once
    to each of ``tokens`` tokens: MLP heads (DiffMLP, alignment, latent
    heads) and the linear parts of a transformer layer."""
    return sum(linear_flops(m, tokens) for m in module.modules()
               if isinstance(m, nn.Linear))


def transformer_flops(layers: Iterable[nn.Module], tokens: int,
                      dims: int) -> int:
    """FLOPs of self-attention transformer layers over ``tokens`` tokens of
    width ``dims`` (the qkv / output projections and the MLP are linear
    layers applied per token, plus dense attention)."""
    return sum(tokenwise_flops(layer, tokens) +
               attention_flops(tokens, tokens, dims) for layer in layers)


def patch_embed_flops(proj: nn.Module, num_patches: int) -> int:
    """FLOPs of a patch projection (a strided ``Conv2d`` / ``Conv3d`` or a
    ``Linear`` over flattened patches) producing ``num_patches`` tokens."""
    return 2 * num_patches * proj.weight.numel()


def attention_pooling_flops(block: nn.Module, tokens: int) -> int:
    """FLOPs of an :class:`~mmivnext.models.utils.AttentionPoolingBlock`:
    keys and values of ``tokens`` tokens, ``num_queries`` queries."""
    attn = block.cross_attn
    queries = block.num_queries
    return (linear_flops(attn.k, tokens) + linear_flops(attn.v, tokens) +
            linear_flops(attn.q, queries) + linear_flops(attn.proj, queries) +
            attention_flops(queries, tokens, attn.embed_dims))


def vit3d_flops(model: nn.Module, num_patches: int,
                num_visible: Optional[int] = None,
                with_projector: bool = False) -> int:
    """Forward FLOPs of a ``VisionTransformer3D`` on one clip.

    Args:
        model: The encoder.
        num_patches (int): ``N``, patch tokens of the clip (all are embedded).
        num_visible (int, optional): ``K`` tokens the blocks see (the
            Stage-1/2 student); defaults to ``N``.
        with_projector (bool): Add the attention-pooling projector.
    """
    tokens = model.num_cls_tokens + (num_patches if num_visible is None
                                     else num_visible)
    flops = patch_embed_flops(model.patch_embed.proj, num_patches)
    flops += transformer_flops(model.blocks, tokens, model.embed_dims)
    if with_projector:
        flops += attention_pooling_flops(model.projector, tokens)
    return flops


def vit3d_train_flops(model: nn.Module, num_patches: int,
                      num_visible: Optional[int] = None,
                      with_projector: bool = False) -> int:
    """Forward + backward FLOPs of a trained ``VisionTransformer3D``:
    :data:`TRAIN_FACTOR` times :func:`vit3d_flops`, less one patch
    projection (its input, the clip, needs no gradient). Arguments as
    :func:`vit3d_flops`."""
    return TRAIN_FACTOR * vit3d_flops(
        model, num_patches, num_visible, with_projector) - patch_embed_flops(
            model.patch_embed.proj, num_patches)


def predictor_flops(predictor: nn.Module, num_positions: int) -> int:
    """Forward FLOPs of a predictor (``ModernBertPredictor`` or
    ``VisionTransformerPredictor``) filling ``num_positions`` grid positions
    (visible + masked) of one clip; local layers count their window."""
    tokens = predictor.num_cls_tokens + num_positions
    layers = getattr(predictor, 'layers', None)
    if layers is None:
        layers = predictor.blocks
    flops = tokenwise_flops(predictor.proj, tokens)
    for layer in layers:
        half_window = getattr(layer, 'half_window', None)  # local layers
        pairs = tokens * tokens if half_window is None else \
            sliding_window_pairs(tokens, half_window)
        flops += tokenwise_flops(layer, tokens) + attention_flops(
            1, pairs, predictor.embed_dims)
    return flops


def siglip_flops(vision_model: nn.Module, num_frames: int, num_patches: int,
                 with_head: bool = True) -> int:
    """Forward FLOPs of a transformers ``SiglipVisionModel`` /
    ``Siglip2VisionModel`` on ``num_frames`` frames of ``num_patches``
    patches each (every layer runs), with its multi-head attention-pooling
    (MAP) head."""
    dims = vision_model.config.hidden_size
    flops = patch_embed_flops(vision_model.embeddings.patch_embedding,
                              num_patches)
    flops += transformer_flops(vision_model.encoder.layers, num_patches, dims)
    head = getattr(vision_model, 'head', None)
    if with_head and head is not None:
        # One probe query; nn.MultiheadAttention's packed in-projection.
        flops += 2 * dims * dims * (1 + 2 * num_patches)  # q; k and v
        flops += attention_flops(1, num_patches, dims)
        flops += tokenwise_flops(head.attention, 1)  # out_proj
        flops += tokenwise_flops(head.mlp, 1)
    return num_frames * flops
