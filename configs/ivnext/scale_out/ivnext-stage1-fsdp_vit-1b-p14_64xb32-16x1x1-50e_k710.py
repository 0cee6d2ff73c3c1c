# InternVideo-Next Stage 1 with a ViT-1B/14 student (1408 wide, 40 layers,
# VisionTransformer3D.arch_zoo['1b']), trained with FSDP as
# ivnext-stage1-fsdp_vit-large-p14_64xb32-16x1x1-50e_k710.py, plus activation
# checkpointing of every transformer block and bf16 gradient reduction (the
# reduce traffic is what grows with the model). The schedule, batch and drop
# path are ViT-L's, not tuned for 1B.
#
#   tools/dist_train.sh THIS_CONFIG 64 --auto-scale-lr
_base_ = ['./ivnext-stage1-fsdp_vit-large-p14_64xb32-16x1x1-50e_k710.py']

model = dict(backbone=dict(arch='1b'))
strategy = dict(
    checkpoint_modules=('TransformerEncoderLayer', 'ModernBertLayer'),
    model_wrapper=dict(mixed_precision=dict(reduce_dtype='bfloat16')))
