# InternVideo-Next Stage 1 with a ViT-B/14 student (paper section 3.2, Fig. 2):
# frozen SigLIP2 teacher -> semantic masker (ratio 0.8) -> student encoder on
# the visible tokens -> last 5 layers of ModernBERT-Large -> diffusion MLP
# decoder (depth 6, width 1536) per masked patch, plus token and global
# alignment with the teacher (2 - 2 cos), all losses with weight 1. Every
# recipe detail and its source (paper or the authors' code): docs/fidelity.md.
#
# The student's 14 px patches on 224 px frames give a 16 x 16 token grid; the
# teacher runs on 256 px frames with 16 px patches, the same grid. The paper's
# final teacher is SigLIP2-1B (`google/siglip2-giant-opt-patch16-256`, width
# 1536); its ablations use SigLIP2-Large (`google/siglip2-large-patch16-256`,
# width 1024). The predictor's and the heads' sizes (widths, token grid, cls
# tokens, patch values) are not set here: the algorithm takes them from the
# built backbone, teacher and predictor, so that `arch`, the teacher or the
# clip size (the backbone's `num_frames` / `img_size`, with the teacher's
# `image_size` and the dataset's clip) change in one place.
teacher_id = 'google/siglip2-giant-opt-patch16-256'
predictor_id = 'answerdotai/ModernBERT-large'
align_layers = 6

model = dict(
    type='InternVideoNextStage1',
    data_preprocessor=dict(type='VideoPretrainDataPreprocessor'),
    backbone=dict(
        type='VisionTransformer3D',
        arch='base',
        img_size=224,
        num_frames=16,
        patch_size=14,
        num_cls_tokens=4,
        # The released encoder's layout (see VisionTransformer3D.released).
        qkv_bias=False,
        qk_norm='rmsnorm',
        qk_norm_across_heads=True,
        layer_scale_init_value=1e-5,
        norm_cfg=dict(type='RMSNorm', eps=1e-6),
        final_norm=False,
        patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        rescale_residual_init=True,
        # Attention pooling (the released encoder's clip_projector), 768
        # wide for every encoder size as the released encoders (the authors'
        # clip_embed_dim); global_align_head maps it to the teacher's width.
        projector_cfg=dict(
            num_heads=16,
            out_dims=768,
            qkv_bias=True,
            norm_cfg=dict(type='LN', eps=1e-5),
            query='mean'),
        drop_path_rate=0.1,
        out_indices=tuple(range(-align_layers, 0)),
        out_type='raw'),
    teacher=dict(
        type='SigLIPTeacher',
        pretrained=teacher_id,
        # The authors' six SigLIP2-1B layers (hidden-state indices: 0 is the
        # patch embedding, i the output of block i).
        layers=(23, 26, 30, 33, 36, 39),
        image_size=256),  # 16 x 16 patches of 16 px, the student's grid
    masker=dict(type='SemanticMasker', mask_ratio=0.8, mode='sample'),
    predictor=dict(
        type='ModernBertPredictor',
        num_layers=5,
        pretrained=predictor_id,
        init='pretrained'),
    pixel_head=dict(
        type='DiffMLPHead',
        width=1536,
        depth=6,
        # One diffusion noise draw per masked patch (the authors' Stage 1;
        # MAR uses 4).
        loss=dict(type='DiffusionLoss', diffusion_batch_mul=1)),
    align_head=dict(
        type='TokenAlignmentHead',
        num_layers=align_layers),
    global_align_head=dict(
        type='LatentPredictionHead',
        # The target, the mean over frames of unit vectors, is used as is.
        loss=dict(type='CosineSimilarityLoss', normalize_target=False)),
)
