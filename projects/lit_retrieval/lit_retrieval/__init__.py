"""LiT zero-shot retrieval and classification with a frozen video encoder
(paper section 4.3, Tables 9-10); see ``projects/lit_retrieval/README.md``."""
from .datasets import VideoTextDataset
from .lit_model import LiTVideoTextModel
from .text_encoder import OpenCLIPTextEncoder

__all__ = ['VideoTextDataset', 'LiTVideoTextModel', 'OpenCLIPTextEncoder']
