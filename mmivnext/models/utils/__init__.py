"""Building blocks shared by the encoder, predictors and heads: norms, attention,
transformer layers, patch embedding and position embeddings; and the loading and
preprocessing of Hugging Face image models run per frame."""
from .attention import (SDPA_BACKENDS, AttentionPoolingBlock, CrossAttention,
                        MultiheadSelfAttention, sdpa_backends_context)
from .checks import check_values
from .hf_image import (SIGLIP_MEAN, SIGLIP_MODEL_CLASSES, SIGLIP_STD,
                       clips_to_model_images, load_pretrained_strict,
                       naflex_patchify, native_image_size,
                       read_image_statistics, register_normalisation,
                       run_siglip_vision_model)
from .init import init_linear_and_norm_, xavier_linear_
from .norm import NORM_ALIASES, NORM_LAYERS, build_norm
from .patch_embed import PatchEmbed3D, patchify_3d, unpatchify_3d
from .pos_embed import (get_1d_sincos_pos_embed, get_3d_sincos_pos_embed,
                        infer_pos_embed_grid, pos_embed_load_pre_hook,
                        resize_pos_embed_3d)
from .rope import apply_rope_3d, grid_positions, rope_3d_split
from .transformer import (MLP, LayerScale, TransformerEncoderLayer,
                          mlp_decoder)

__all__ = [
    'AttentionPoolingBlock', 'CrossAttention', 'MultiheadSelfAttention',
    'check_values', 'init_linear_and_norm_', 'xavier_linear_', 'SDPA_BACKENDS', 'sdpa_backends_context',
    'NORM_ALIASES', 'NORM_LAYERS', 'build_norm', 'PatchEmbed3D', 'patchify_3d',
    'unpatchify_3d', 'get_1d_sincos_pos_embed', 'get_3d_sincos_pos_embed',
    'infer_pos_embed_grid', 'pos_embed_load_pre_hook', 'resize_pos_embed_3d',
    'apply_rope_3d', 'grid_positions', 'rope_3d_split', 'MLP', 'LayerScale', 'mlp_decoder',
    'TransformerEncoderLayer', 'SIGLIP_MEAN', 'SIGLIP_MODEL_CLASSES', 'SIGLIP_STD',
    'clips_to_model_images', 'load_pretrained_strict', 'naflex_patchify',
    'native_image_size', 'read_image_statistics', 'register_normalisation',
    'run_siglip_vision_model'
]
