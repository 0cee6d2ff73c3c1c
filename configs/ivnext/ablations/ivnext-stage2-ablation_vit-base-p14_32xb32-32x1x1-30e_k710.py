# Table 4 "Effect of Temporal Frame Count", Stage 2 with 32 frames (the
# ablation setting uses 8).
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

num_frames = 32
img_size = 224
# The clips and the authors' context cap int(400 * frames / 8) change; the
# position-embedding tables stay those of 16 frames, interpolated at every
# forward (as the authors' code).
model = dict(masker=dict(mask_cfgs=[
    dict(num_blocks=8, spatial_scale=(0.15, 0.15), aspect_ratio=(0.75, 1.5),
         temporal_scale=(1.0, 1.0), max_visible=400 * num_frames // 8),
    dict(num_blocks=2, spatial_scale=(0.7, 0.7), aspect_ratio=(0.75, 1.5),
         temporal_scale=(1.0, 1.0), max_visible=400 * num_frames // 8),
]))
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='mmaction.DecordInit'),
        dict(type='mmaction.UniformSample', clip_len=num_frames, num_clips=1),
        dict(type='mmaction.DecordDecode'),
        dict(type='mmaction.MultiScaleCrop', input_size=img_size,
             scales=(1, 0.875, 0.75, 0.66), random_crop=False,
             max_wh_scale_gap=1,
             num_fixed_crops=13),
        dict(type='mmivnext.Resize', scale=(img_size, img_size),
             keep_ratio=False, backend='pillow'),
        dict(type='mmaction.Flip', flip_ratio=0.5),
        dict(type='mmaction.FormatShape', input_format='NCTHW'),
        dict(type='mmaction.PackActionInputs'),
    ]))
