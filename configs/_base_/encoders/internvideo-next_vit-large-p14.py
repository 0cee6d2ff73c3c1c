# InternVideo-Next ViT-L/14 as the authors released it (Hugging Face
# revliter/internvideo_next_large_p14_res224_f16), frozen: one encoder of the
# probe comparisons (configs/probes/zoo/, configs/probes/depth/zoo/; the
# README's model-zoo table). Convert the release once:
#
#   python tools/model_converters/internvideo_next_to_mmivnext.py \
#       RELEASE_FILE checkpoints/internvideo-next_vitl14_release.safetensors
#
# The arguments are those the converter writes to the JSON beside the weights
# (tests/test_model_zoo.py derives them from the release's layout; loading
# refuses a JSON that disagrees). Clip: 16 frames of 224 px; depth configs
# set num_frames to their window. Our own trained encoders use
# configs/_base_/models/frozen-ivnext-encoder_vit-base-p14.py instead (the
# same layout; its JSON is the one export_encoder.py writes).
frozen_encoder_dims = 1024
frozen_encoder = dict(
    type='mmivnext.VisionTransformer3D',
    arch='large',
    num_frames=16,
    img_size=224,
    patch_size=14,
    num_cls_tokens=4,
    qkv_bias=False,
    qk_norm=dict(type='RMSNorm', eps=1e-6),
    qk_norm_across_heads=True,
    layer_scale_init_value=1e-5,
    norm_cfg=dict(type='RMSNorm', eps=1e-6),
    final_norm=False,
    patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
    patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
    projector_cfg=dict(num_heads=16, out_dims=768, qkv_bias=True,
                       norm_cfg=dict(type='LN', eps=1e-5), query='mean'),
    frozen_stages=24,  # every layer: eval mode, no gradients
    out_type='raw',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/internvideo-next_vitl14_release.safetensors'))
