# LiT (paper section 4.3, Tables 9-10) on the released InternVideo-Next
# ViT-L/14, frozen: the video embedding is its attention-pooled projector
# output (768-d, the release's `clip_projector`). The recipe is
# _base_/lit_mobileclip-b_8xb64-16x224-5e_umt25m.py.
#
#   PYTHONPATH=. tools/dist_train.sh THIS_CONFIG 8
#   PYTHONPATH=. tools/dist_test.sh THIS_CONFIG work_dirs/<name>/epoch_5.pth 8
_base_ = [
    './_base_/lit_mobileclip-b_8xb64-16x224-5e_umt25m.py',
    '../../../configs/_base_/encoders/internvideo-next_vit-large-p14.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, out_type='projected',
                  num_frames={{_base_.num_frames}},
                  img_size={{_base_.img_size}}),
    video_embed_dims=768)  # the encoder's projector_cfg.out_dims
