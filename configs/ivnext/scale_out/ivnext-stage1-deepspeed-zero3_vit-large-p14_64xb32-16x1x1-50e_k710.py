# As ivnext-stage1-deepspeed-zero2_vit-large-p14_64xb32-16x1x1-50e_k710.py
# with ZeRO stage 3: the weights are sharded too, and gathered layer by layer
# in forward and backward. GPU only, not tested here (see docs/scale_out.md).
#
#   tools/dist_train.sh THIS_CONFIG 64 --auto-scale-lr
_base_ = [
    './ivnext-stage1-deepspeed-zero2_vit-large-p14_64xb32-16x1x1-50e_k710.py'
]

strategy = dict(zero_optimization=dict(stage=3))
