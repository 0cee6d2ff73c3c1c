# Table 3 "replace w/ Frozen InternVideo2 Target": the latents of a frozen
# InternVideo2 Stage-1 ViT-B/14 (1 cls token, LayerNorm, qkv bias) instead of
# the Stage-1 encoder's. `internvideo2_encoder` is an encoder-only file in
# mmivnext's layout (the InternVideo2 converter is part of the model zoo).
_base_ = ['./stage2_vitb_ablation-base.py']

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
            qkv_bias=True,
            final_norm=True,
            out_indices=-1,
            out_type='raw'),
        checkpoint=internvideo2_encoder,
        prefix=''))
