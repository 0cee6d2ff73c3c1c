# V-JEPA 2 ViT-L/16 (facebookresearch/vjepa2 `vitl.pt`, its EMA
# `target_encoder`), frozen: one encoder of the probe comparisons
# (configs/probes/zoo/, configs/probes/depth/zoo/). Convert once:
#
#   python tools/model_converters/vjepa2_to_mmivnext.py \
#       vitl.pt checkpoints/vjepa2_vitl16_encoder.safetensors
#
# The arguments are those the converter writes to the JSON beside the weights
# (tests/test_model_zoo.py derives them from the release's layout; loading
# refuses a JSON that disagrees). It was pre-trained on 64 frames of 256 px;
# its 3D RoPE takes the probes' 16 x 224 clips as they are.
frozen_encoder_dims = 1024
frozen_encoder = dict(
    type='mmivnext.VisionTransformer3D',
    arch='large',
    num_frames=16,
    img_size=224,
    patch_size=16,
    tubelet_size=2,
    num_cls_tokens=0,
    qkv_bias=True,
    norm_cfg=dict(type='LN', eps=1e-6),
    final_norm=True,
    pos_embed_type='rope_3d',
    frozen_stages=24,  # every layer: eval mode, no gradients
    out_type='raw',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/vjepa2_vitl16_encoder.safetensors'))
