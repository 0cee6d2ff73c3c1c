# SigLIP 2 ViT-L/16 (per frame): its row of the ScanNet video-depth comparison
# (one command per row). The protocol - data, head, schedule, metric - is
# configs/probes/depth/depth-probe_ivnext-vit-large-p14_8xb32-16x1x1-30e_scannet.py,
# with its frozen encoder replaced by
# configs/_base_/encoders/siglip2_vit-large-p16.py.
#
#   tools/dist_train.sh THIS_CONFIG 8
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_30.pth 8
_base_ = [
    '../depth-probe_ivnext-vit-large-p14_8xb32-16x1x1-30e_scannet.py',
    '../../../_base_/encoders/siglip2_vit-large-p16.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, _delete_=True),
    head=dict(in_channels=_base_.frozen_encoder_dims))
