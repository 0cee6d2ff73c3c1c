# Video-LLM connector (paper Table 11) on the released InternVideo-Next
# ViT-L/14, frozen: its patch-token grid (4 x 16 x 16 at 4 frames of 224 px)
# is pooled to 4 x 4 x 4 tokens and mapped into frozen Qwen2-7B. The recipe is
# _base_/connector_qwen2-7b_32xb8-4x224-1e_stage1-mix.py.
#
#   PYTHONPATH=. tools/dist_train.sh THIS_CONFIG 8
#   PYTHONPATH=. tools/dist_test.sh THIS_CONFIG work_dirs/<name>/epoch_1.pth 8
_base_ = [
    './_base_/connector_qwen2-7b_32xb8-4x224-1e_stage1-mix.py',
    '../../../configs/_base_/encoders/internvideo-next_vit-large-p14.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, out_type='featmap',
                  num_frames={{_base_.num_frames}},
                  img_size={{_base_.img_size}}),
    visual_dims=_base_.frozen_encoder_dims)
