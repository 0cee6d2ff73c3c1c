# Table 3 "replace w/ Frozen InternVideo2 Target": the latents of a frozen
# InternVideo2 Stage-1 ViT-B/14 (distilled from InternVideo2-1B) instead of
# the Stage-1 encoder's. Convert the InternVideo2 checkpoint once:
#
#   python tools/model_converters/internvideo2_to_mmivnext.py \
#       SRC checkpoints/internvideo2_s1_vitb14_encoder.safetensors
#
# The backbone below is what the converter writes for that release's layout
# (1 cls token, no qkv bias, RMSNorm with QK norm across heads, LayerScale,
# no final norm; tests/test_model_zoo.py checks it), and loading refuses a
# converted JSON that disagrees.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

internvideo2_encoder = 'checkpoints/internvideo2_s1_vitb14_encoder.safetensors'
model = dict(
    teacher=dict(
        _delete_=True,
        type='FrozenVideoTeacher',
        backbone=dict(
            type='VisionTransformer3D',
            arch='base',
            img_size=224,
            num_frames={{_base_.num_frames}},
            patch_size=14,
            num_cls_tokens=1,
            qkv_bias=False,
            qk_norm=dict(type='RMSNorm', eps=1e-6),
            qk_norm_across_heads=True,
            layer_scale_init_value=1e-5,
            norm_cfg=dict(type='RMSNorm', eps=1e-6),
            final_norm=False,
            out_indices=-1,
            out_type='raw'),
        checkpoint=internvideo2_encoder,
        prefix=''))
