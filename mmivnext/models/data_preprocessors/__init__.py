"""Data preprocessors."""
from .video_pretrain_data_preprocessor import VideoPretrainDataPreprocessor

__all__ = ['VideoPretrainDataPreprocessor']
