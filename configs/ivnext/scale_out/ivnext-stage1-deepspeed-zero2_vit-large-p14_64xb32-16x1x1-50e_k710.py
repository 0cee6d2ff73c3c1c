# InternVideo-Next Stage 1, ViT-L/14, with DeepSpeed ZeRO stage 2 (AdamW
# states and gradients sharded over the ranks, weights replicated) through
# MMEngine's FlexibleRunner: the recipe of stage1_vitl.py otherwise.
# GPU only, and DeepSpeed is not a requirement of mmivnext:
# `pip install deepspeed` first; not tested in this repository (no GPU in
# CI). See docs/scale_out.md.
#
# Precision: fp32. DeepSpeed's bf16 / fp16 modes cast the whole model and run
# it without autocast, which Stage 1 does not support (its diffusion head
# feeds the fp32 noised pixel targets to its layers: "RuntimeError: mat1 and
# mat2 must have the same dtype, but got Float and BFloat16"), and MMEngine's
# DeepSpeed wrapper has no autocast. For bf16 at scale use
# ivnext-stage1-fsdp_vit-large-p14_64xb32-16x1x1-50e_k710.py. The frozen
# teacher keeps its own bf16 weights (held outside the module tree, DeepSpeed
# moves it but neither shards nor casts it). Checkpoints are DeepSpeed folders
# (epoch_N.pth/ with the model and the partitioned optimizer states);
# DeepSpeed's zero_to_fp32.py turns one into a single fp32 state dict.
#
#   tools/dist_train.sh THIS_CONFIG 64 --auto-scale-lr
_base_ = ['../stage1_vitl.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    zero_optimization=dict(
        stage=2,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_scatter=True,
        allgather_partitions=True),
    # DeepSpeed clips by the global norm over all partitions.
    gradient_clipping={{_base_.optim_wrapper.clip_grad.max_norm}})
# DeepSpeed's wrapper takes the optimizer only: precision and clipping are
# the strategy's.
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
