# InternVideo-Next Stage 2 with a ViT-B/14 student (paper section 3.3): the
# student encoder and the predictor start from Stage 1 (`stage1_checkpoint`,
# written by tools/model_converters/stage1_to_stage2.py), the frozen teacher is
# the same Stage-1 encoder; multi-block masks (8 blocks of 15 % and 2 of 70 %
# of each frame, whole clip in time); the predictor's masked outputs go through
# an MLP + LayerNorm head and are compared with the teacher's L2-normalised
# latents (2 - 2 cos). The student sees 32 frames: the Stage-1 position
# embeddings (16 frames) are interpolated in time when loaded.
patch_size = 14
embed_dims = 768
num_cls_tokens = 4
grid_size = (32, 16, 16)  # (T', H', W') tokens of 32 frames x 224 px
predictor_dims = 1024  # ModernBERT-Large hidden size
stage1_checkpoint = 'work_dirs/stage1_vitb/stage2_init.pth'

# The Stage-1 encoder's architecture (see ivnext-s1_vit-base-p14.py).
encoder = dict(
    type='VisionTransformer3D',
    arch='base',
    img_size=224,
    num_frames=32,
    patch_size=patch_size,
    num_cls_tokens=num_cls_tokens,
    qkv_bias=False,
    qk_norm='rmsnorm',
    qk_norm_across_heads=True,
    layer_scale_init_value=1e-5,
    norm_cfg=dict(type='RMSNorm', eps=1e-6),
    final_norm=False,
    patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
    patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
    projector_cfg=dict(
        num_heads=16,
        out_dims=1536,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-5),
        query='mean'),
    out_indices=-1,
    out_type='raw')

model = dict(
    type='InternVideoNextStage2',
    data_preprocessor=dict(type='VideoPretrainDataPreprocessor'),
    backbone=dict(encoder, drop_path_rate=0.1),
    teacher=dict(
        type='FrozenVideoTeacher', backbone=encoder,
        checkpoint=stage1_checkpoint),
    masker=dict(type='MultiBlockMasker'),  # the Stage-2 defaults
    predictor=dict(
        type='ModernBertPredictor',
        in_dims=embed_dims,
        grid_size=grid_size,
        num_cls_tokens=num_cls_tokens,
        num_layers=5,
        pretrained='answerdotai/ModernBERT-large',  # architecture only:
        init='none'),  # the weights come from Stage 1
    head=dict(
        type='LatentPredictionHead',
        in_dims=predictor_dims,
        out_dims=embed_dims),
    init_checkpoint=stage1_checkpoint)
