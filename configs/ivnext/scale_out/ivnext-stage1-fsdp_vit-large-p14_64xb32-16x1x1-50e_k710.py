# InternVideo-Next Stage 1, ViT-L/14, with FSDP instead of DDP: the recipe of
# stage1_vitl.py (same data, schedule, batch 64 x 32 and AMP), with weights,
# gradients and AdamW states sharded over the ranks (MMEngine's FlexibleRunner
# with mmivnext.AnyDeviceFSDPStrategy; see docs/scale_out.md).
#
# * One FSDP unit per transformer block: the encoder's
#   TransformerEncoderLayer and the ModernBERT predictor's ModernBertLayer
#   (each block's weights are gathered just before it runs, freed after).
# * bf16 weights in forward and backward, fp32 gradient reduction, fp32
#   master weights. The AMP wrapper's bf16 autocast stays on: the diffusion
#   head feeds the fp32 noised pixel targets to its bf16 layers.
# * The frozen SigLIP2 teacher is held outside the module tree: FSDP neither
#   shards nor casts it; every rank runs its own bf16 copy.
# * Checkpoints are single files with the keys of the unwrapped model, as
#   DDP writes them (tools/test.py, --resume and the converters read them).
#
#   tools/dist_train.sh THIS_CONFIG 64 --auto-scale-lr
_base_ = ['../stage1_vitl.py']

runner_type = 'FlexibleRunner'
# Module classes that become FSDP units (and, with checkpoint_modules, are
# recomputed in the backward pass).
transformer_blocks = ('TransformerEncoderLayer', 'ModernBertLayer')
strategy = dict(
    type='mmivnext.AnyDeviceFSDPStrategy',
    wrap_modules=transformer_blocks,
    # Activation checkpointing switch: checkpoint_modules=transformer_blocks
    # trades about a third more compute for the blocks' activations.
    checkpoint_modules=None,
    model_wrapper=dict(
        # HYBRID_SHARD shards within a node and replicates across nodes: less
        # inter-node traffic when the model fits in one node's memory.
        sharding_strategy='FULL_SHARD',
        mixed_precision=dict(
            param_dtype='bfloat16',
            reduce_dtype='float32',
            buffer_dtype='float32'),
        backward_prefetch='BACKWARD_PRE',
        use_orig_params=True),
    state_dict_cfg='full')
# FSDP's sharded gradient scaler (used with fp16; bf16 needs no scaler).
optim_wrapper = dict(use_fsdp=True)
