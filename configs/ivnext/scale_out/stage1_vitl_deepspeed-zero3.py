# As stage1_vitl_deepspeed-zero2.py with ZeRO stage 3: the weights are
# sharded too, and gathered layer by layer in forward and backward. GPU only,
# not tested here (see docs/scale_out.md).
#
#   tools/dist_train.sh \
#       configs/ivnext/scale_out/stage1_vitl_deepspeed-zero3.py 64 --auto-scale-lr
_base_ = ['./stage1_vitl_deepspeed-zero2.py']

strategy = dict(zero_optimization=dict(stage=3))
