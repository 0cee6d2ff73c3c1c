# A frozen InternVideo-Next ViT-B/14 encoder with an attentive probe (paper
# section 4.2, Table 5), as an mmaction2 Recognizer3D: only the probe trains.
# `encoder` is an encoder exported by tools/model_converters/export_encoder.py
# (safetensors); its JSON gives the architecture below (the released layout).
# Configs that use it run in mmaction2's scope (default_scope = 'mmaction').
_base_ = ['./frozen-ivnext-encoder_vit-base-p14.py']

custom_imports = dict(imports=['mmivnext.models', 'mmivnext.engine'],
                      allow_failed_imports=False)

encoder = 'checkpoints/ivnext-s2_vitb14_encoder.safetensors'
embed_dims = 768
num_layers = 12
num_classes = 400

model = dict(
    type='Recognizer3D',
    backbone=dict(
        arch='base',
        img_size=224,
        num_frames=16,
        frozen_stages=num_layers,  # all frozen, kept in eval mode
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=encoder)),
    cls_head=dict(
        type='mmivnext.AttentiveProbeHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        num_heads=16,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
