# InternVideo2 ViT-L/14 (the stage-2 vision encoder distilled from
# InternVideo2-1B, OpenGVLab's release), frozen: one encoder of the probe
# comparisons (configs/probes/zoo/, configs/probes/depth/zoo/). Convert once
# (the `vision_encoder.` prefix is found; distillation decoders are dropped):
#
#   python tools/model_converters/internvideo2_to_mmivnext.py \
#       SRC checkpoints/internvideo2_vitl14_encoder.safetensors
#
# The arguments are those the converter writes to the JSON beside the weights
# (tests/test_model_zoo.py derives them from the release's layout; loading
# refuses a JSON that disagrees). The position embedding of the release (its
# frame count) is resized to this clip when loaded. A checkpoint without the
# attention-pooling projector (`clip_projector`) needs projector_cfg=None.
frozen_encoder_dims = 1024
frozen_encoder = dict(
    type='mmivnext.VisionTransformer3D',
    arch='large',
    num_frames=16,
    img_size=224,
    patch_size=14,
    num_cls_tokens=1,
    qkv_bias=False,
    qk_norm=dict(type='RMSNorm', eps=1e-6),
    qk_norm_across_heads=True,
    layer_scale_init_value=1e-5,
    norm_cfg=dict(type='RMSNorm', eps=1e-6),
    final_norm=False,
    projector_cfg=dict(num_heads=16, out_dims=768, qkv_bias=True,
                       norm_cfg=dict(type='LN', eps=1e-5), query='mean'),
    frozen_stages=24,  # every layer: eval mode, no gradients
    out_type='raw',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/internvideo2_vitl14_encoder.safetensors'))
