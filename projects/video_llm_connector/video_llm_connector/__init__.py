"""A frozen video encoder connected to a frozen LLM by a trained MLP (paper
section 4.3, Table 11); see ``projects/video_llm_connector/README.md``."""
from .connector import PooledMLPConnector
from .datasets import VideoInstructionDataset, VideoMCQDataset
from .llm import FrozenCausalLM
from .model import VideoLLMConnectorModel

__all__ = ['PooledMLPConnector', 'VideoInstructionDataset', 'VideoMCQDataset',
           'FrozenCausalLM', 'VideoLLMConnectorModel']
