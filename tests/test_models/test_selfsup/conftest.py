"""Fixtures of the algorithm tests."""
import pytest

from mmivnext.utils.demo_models import save_tiny_modernbert, save_tiny_siglip


@pytest.fixture(scope='module')
def tiny_checkpoints(tmp_path_factory):
    """A tiny SigLIP teacher and ModernBERT, saved as transformers models."""
    root = tmp_path_factory.mktemp('stage1_models')
    return dict(
        teacher=save_tiny_siglip(str(root / 'siglip'), hidden_size=32,
                                 num_heads=2, image_size=32),
        predictor=save_tiny_modernbert(str(root / 'modernbert'),
                                       hidden_size=32, num_heads=2,
                                       local_attention=8))
