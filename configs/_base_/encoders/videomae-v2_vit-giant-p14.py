# VideoMAE v2 ViT-g/14 (the self-supervised pre-training checkpoint
# vit_g_hybrid_pt_1200e of OpenGVLab/VideoMAEv2), frozen: one encoder of the
# probe comparisons (configs/probes/zoo/, configs/probes/depth/zoo/). Convert
# once (the encoder is taken from the pre-training model, the decoder dropped):
#
#   python tools/model_converters/videomae_v2_to_mmivnext.py \
#       vit_g_hybrid_pt_1200e.pth checkpoints/videomae-v2_vitg14_encoder.safetensors
#
# The arguments are those the converter writes to the JSON beside the weights
# (tests/test_model_zoo.py derives them from the release's layout; loading
# refuses a JSON that disagrees). The fixed 1-D sinusoid table is rebuilt for
# the clip's token grid. Other VideoMAE (v1/v2) ViTs convert the same way;
# fine-tuned ones have fc_norm=True, final_norm=False.
frozen_encoder_dims = 1408
frozen_encoder = dict(
    type='mmivnext.VisionTransformer3D',
    arch=dict(embed_dims=1408, num_layers=40, num_heads=16,
              feedforward_channels=6144),
    num_frames=16,
    img_size=224,
    patch_size=14,
    tubelet_size=2,
    num_cls_tokens=0,
    qkv_bias=True,  # q and v biases; the k bias is zero
    norm_cfg=dict(type='LN', eps=1e-6),
    final_norm=True,
    pos_embed_type='sinusoid_1d',
    pos_embed_learnable=False,
    frozen_stages=40,  # every layer: eval mode, no gradients
    out_type='raw',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/videomae-v2_vitg14_encoder.safetensors'))
