# V-JEPA 2 ViT-L/16: its row of the Kinetics-400 attentive-probe comparison (one
# command per row). The protocol - data, head, schedule, metric - is
# configs/probes/attentive-probe_ivnext-vit-large-p14_8xb32-16x1x1-20e_k400.py, with
# its frozen encoder replaced by configs/_base_/encoders/vjepa2_vit-large-p16.py.
#
#   tools/dist_train.sh THIS_CONFIG 8
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_20.pth 8
_base_ = [
    '../attentive-probe_ivnext-vit-large-p14_8xb32-16x1x1-20e_k400.py',
    '../../_base_/encoders/vjepa2_vit-large-p16.py',
]

model = dict(
    backbone=dict(_base_.frozen_encoder, _delete_=True),
    cls_head=dict(in_channels=_base_.frozen_encoder_dims))
