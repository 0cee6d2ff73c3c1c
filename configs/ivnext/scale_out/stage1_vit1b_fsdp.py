# InternVideo-Next Stage 1 with a ViT-1B/14 student (1408 wide, 40 layers,
# VisionTransformer3D.arch_zoo['1b']), trained with FSDP as
# stage1_vitl_fsdp.py, plus activation checkpointing of every transformer
# block and bf16 gradient reduction (the reduce traffic is what grows with
# the model). The schedule, batch and drop path are ViT-L's, not tuned for 1B.
#
#   tools/dist_train.sh configs/ivnext/scale_out/stage1_vit1b_fsdp.py 64 --auto-scale-lr
_base_ = ['./stage1_vitl_fsdp.py']

model = dict(backbone=dict(arch='1b'))
strategy = dict(
    checkpoint_modules=('TransformerEncoderLayer', 'ModernBertLayer'),
    model_wrapper=dict(mixed_precision=dict(reduce_dtype='bfloat16')))
