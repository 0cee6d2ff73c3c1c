"""Tiny randomly initialised teacher and predictor checkpoints for the demo.

The demo and the tests cannot download SigLIP2 or ModernBERT. They run the
real loading code (``from_pretrained`` on a local folder) on small models of
the same architectures written here with ``save_pretrained``. Weights are
random but seeded: the same arguments write the same checkpoints.
``tools/data/make_demo_models.py`` is the command line.
"""
import os.path as osp
from typing import Optional

import torch


def save_tiny_siglip(out_dir: str,
                     hidden_size: int = 64,
                     num_layers: int = 2,
                     num_heads: int = 4,
                     image_size: int = 64,
                     patch_size: int = 16,
                     seed: int = 0,
                     intermediate_size: Optional[int] = None) -> str:
    """Write a random ``SiglipVisionModel`` (with its MAP head) to a folder.

    Small by default; ``benchmarks/`` also writes real-sized ones (e.g.
    SigLIP2-1B's 1536 x 40) to time them. ``intermediate_size`` defaults to
    ``2 * hidden_size``.

    Returns:
        str: ``out_dir``, loadable by ``SigLIPTeacher(pretrained=out_dir)``.
    """
    from transformers import SiglipVisionConfig, SiglipVisionModel
    config = SiglipVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        image_size=image_size,
        patch_size=patch_size,
        vision_use_head=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SiglipVisionModel(config)
    model.save_pretrained(out_dir)
    return out_dir


def save_tiny_modernbert(out_dir: str,
                         hidden_size: int = 64,
                         num_layers: int = 6,
                         num_heads: int = 4,
                         local_attention: int = 16,
                         seed: int = 0,
                         intermediate_size: Optional[int] = None) -> str:
    """Write a random ``ModernBertModel`` to a folder.

    Global attention every third layer as in ModernBERT-Large, with a small
    local window so that local layers differ from global ones on demo clips.
    ``intermediate_size`` defaults to ``2 * hidden_size`` (ModernBERT-Large:
    1024 wide, 28 layers, 16 heads, 2624, window 128).

    Returns:
        str: ``out_dir``, loadable by ``ModernBertPredictor(pretrained=...)``.
    """
    from transformers import ModernBertConfig, ModernBertModel
    config = ModernBertConfig(
        vocab_size=64,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        global_attn_every_n_layers=3,
        local_attention=local_attention,
        max_position_embeddings=1024,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        sep_token_id=2,
        cls_token_id=1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ModernBertModel(config)
    model.save_pretrained(out_dir)
    return out_dir


def make_demo_models(out_dir: str = 'data/demo_models', seed: int = 0) -> dict:
    """Write the demo's teacher and predictor checkpoints.

    Returns:
        dict: ``teacher`` and ``predictor`` folders.
    """
    return dict(
        teacher=save_tiny_siglip(osp.join(out_dir, 'siglip_tiny'), seed=seed),
        predictor=save_tiny_modernbert(
            osp.join(out_dir, 'modernbert_tiny'), seed=seed))
