# InternVideo-Next Stage 2 with a ViT-B/14 student (paper section 3.3): the
# student encoder and the predictor start from Stage 1 (`stage1_checkpoint`,
# written by tools/model_converters/stage1_to_stage2.py), the frozen teacher is
# the same Stage-1 encoder; multi-block masks (8 blocks of 15 % and 2 of 70 %
# of each frame, whole clip in time); the predictor's masked outputs go through
# an MLP + LayerNorm head and are compared with the teacher's L2-normalised
# latents (2 - 2 cos). As the authors' code (main_stage2.py builds the
# model for 16 frames), the encoders and the predictor keep their Stage-1
# position embeddings of 16 frames and interpolate them in time to the 32
# input frames at every forward; the gradients flow into the 16-frame
# tables. Every recipe detail and its source: docs/fidelity.md. The
# predictor's and the head's sizes come from the built encoder and teacher.
pos_embed_frames = 16  # the grid of the stored position embeddings
stage1_checkpoint = 'work_dirs/stage1_vitb/stage2_init.pth'

# The Stage-1 encoder's architecture (see ivnext-stage1_vit-base-p14.py).
encoder = dict(
    type='VisionTransformer3D',
    arch='base',
    img_size=224,
    num_frames=pos_embed_frames,
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
    projector_cfg=dict(
        num_heads=16,
        out_dims=768,
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
    # V-JEPA's two mask configs (8 blocks of 15 %, 2 of 70 % of each frame,
    # all tubes), with the authors' context cap int(400 * frames / 8) (1600
    # of 8192 tokens for the 32-frame clips) and their truncation to the first tokens
    # in (t, h, w) order, so that the context lies in the early frames
    # (engines/jepa_mask.py).
    masker=dict(
        type='MultiBlockMasker',
        mask_cfgs=[
            dict(num_blocks=8, spatial_scale=(0.15, 0.15),
                 aspect_ratio=(0.75, 1.5), temporal_scale=(1.0, 1.0),
                 max_visible=400 * 32 // 8),
            dict(num_blocks=2, spatial_scale=(0.7, 0.7),
                 aspect_ratio=(0.75, 1.5), temporal_scale=(1.0, 1.0),
                 max_visible=400 * 32 // 8),
        ],
        context_keep='first'),
    predictor=dict(
        type='ModernBertPredictor',
        num_layers=5,
        pretrained='answerdotai/ModernBERT-large',  # architecture only:
        init='none'),  # the weights come from Stage 1
    head=dict(type='LatentPredictionHead'),
    init_checkpoint=stage1_checkpoint)
