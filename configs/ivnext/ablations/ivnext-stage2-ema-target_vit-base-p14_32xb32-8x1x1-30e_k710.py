# Table 3 "replace w/ Momentum 0.9998 Target": the teacher follows the student
# by an exponential moving average instead of staying frozen.
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

custom_hooks = [dict(type='TeacherEMAHook', momentum=0.9998)]
# An EMA step (1 - 0.9998 of the way) is below bfloat16's resolution: the
# EMA teacher keeps float32 weights.
model = dict(teacher=dict(dtype='float32'))
