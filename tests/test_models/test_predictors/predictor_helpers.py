"""Helpers of the predictor tests: a tiny ModernBERT config, random encoder
outputs with visible / masked indices, a stand-in for skipped transformers
layers. (A plain module, imported by the tests and ``conftest.py``.)"""
import torch
from torch import nn

#: A tiny ModernBERT: 6 layers, global attention in layers 0 and 3 (every 3),
#: local attention reaching 4 tokens each way (window 8), head width 16.
TINY_BERT = dict(
    hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
    intermediate_size=128, global_attn_every_n_layers=3, local_attention=8,
    vocab_size=32, max_position_embeddings=64, pad_token_id=0, bos_token_id=1,
    eos_token_id=2, cls_token_id=1, sep_token_id=2)

#: Encoder width, cls tokens and token grid of the tiny predictors:
#: L = 2 + 2 * 3 * 3 = 20 tokens, longer than the local window.
IN_DIMS, NUM_CLS, GRID = 32, 2, (2, 3, 3)


def random_inputs(batch=2, grid=GRID, num_cls=NUM_CLS, in_dims=IN_DIMS,
                  num_visible=5, seed=0, sort=True):
    """Encoder tokens ``[B, num_cls + K, C]`` and index tensors.

    Returns:
        tuple: ``tokens``, ``visible_indices [B, K]``, ``masked_indices
        [B, N - K]`` (a random split per sample, sorted if ``sort``).
    """
    gen = torch.Generator().manual_seed(seed)
    n = grid[0] * grid[1] * grid[2]
    perm = torch.stack([torch.randperm(n, generator=gen) for _ in range(batch)])
    vis, msk = perm[:, :num_visible], perm[:, num_visible:]
    if sort:
        vis, msk = vis.sort(dim=1).values, msk.sort(dim=1).values
    tokens = torch.randn(batch, num_cls + num_visible, in_dims, generator=gen)
    return tokens, vis, msk


class PassThroughLayer(nn.Module):
    """Stands for a skipped layer of a transformers ``ModernBertModel``."""

    attention_type = 'full_attention'

    def forward(self, hidden_states, **kwargs):
        return hidden_states
