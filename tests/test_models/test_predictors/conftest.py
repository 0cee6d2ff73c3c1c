"""Fixtures of the predictor tests."""
import pytest
import torch

import mmivnext  # noqa: F401  (applies the upstream fixes first)
from predictor_helpers import TINY_BERT


@pytest.fixture(scope='session')
def tiny_modernbert_dir(tmp_path_factory):
    """Folder of a saved random ``ModernBertModel`` of :data:`TINY_BERT`.

    Weights are re-drawn larger than ModernBERT's init (std 0.1, norms around
    one) so that every layer changes its input a lot and differences between
    code paths show.
    """
    from transformers import ModernBertConfig, ModernBertModel

    torch.manual_seed(0)
    model = ModernBertModel(ModernBertConfig(**TINY_BERT))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'norm' in name:
                param.copy_(1 + 0.1 * torch.randn_like(param))
            else:
                param.normal_(std=0.1)
    path = tmp_path_factory.mktemp('tiny_modernbert')
    model.save_pretrained(str(path))
    return str(path)
