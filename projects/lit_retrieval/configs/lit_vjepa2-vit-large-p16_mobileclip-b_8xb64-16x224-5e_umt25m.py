# LiT on V-JEPA 2 ViT-L/16 (the baseline row of the paper's Tables 9-10),
# frozen. V-JEPA 2 has no attention-pooling projector, so its video embedding is
# the mean of its patch tokens (out_type='avg_featmap', 1024-d). Other zoo
# encoders without a projector (VideoMAE v2, DINOv3, SigLIP 2) swap in the same
# way. The recipe is _base_/lit_mobileclip-b_8xb64-16x224-5e_umt25m.py.
_base_ = [
    './_base_/lit_mobileclip-b_8xb64-16x224-5e_umt25m.py',
    '../../../configs/_base_/encoders/vjepa2_vit-large-p16.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, out_type='avg_featmap',
                  num_frames={{_base_.num_frames}},
                  img_size={{_base_.img_size}}),
    video_embed_dims=_base_.frozen_encoder_dims)
