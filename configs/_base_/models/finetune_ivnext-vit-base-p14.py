# Fine-tuning an InternVideo-Next ViT-B/14 encoder (paper Table 15) as an
# mmaction2 Recognizer3D: the whole encoder trains (drop path 0.1), a
# LayerNorm + linear head reads the mean patch token, label smoothing 0.1 and
# CutMix 1.0. `encoder` is an encoder exported by
# tools/model_converters/export_encoder.py. Configs that use it run in
# mmaction2's scope (default_scope = 'mmaction').
custom_imports = dict(imports=['mmivnext.models', 'mmivnext.engine'],
                      allow_failed_imports=False)

encoder = 'checkpoints/ivnext-s2_vitb14_encoder.safetensors'
embed_dims = 768
num_classes = 400

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='mmivnext.VisionTransformer3D',
        arch='base',
        img_size=224,
        num_frames=16,
        patch_size=14,
        num_cls_tokens=4,
        qkv_bias=False,
        qk_norm='rmsnorm',
        qk_norm_across_heads=True,
        layer_scale_init_value=1e-5,
        norm_cfg=dict(type='RMSNorm', eps=1e-6),
        final_norm=False,
        patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        projector_cfg=dict(num_heads=16, out_dims=1536, qkv_bias=True,
                           norm_cfg=dict(type='LN', eps=1e-5), query='mean'),
        drop_path_rate=0.1,
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    cls_head=dict(
        type='mmivnext.LinearProbeHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        norm='LN',
        dropout_ratio=0.5,
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW',
        blending=dict(type='CutmixBlending', num_classes=num_classes,
                      alpha=1.0)))
