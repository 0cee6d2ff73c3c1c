# InternVideo-Next Stage 1, ViT-L/14 student: as stage1_vitb.py with the large
# encoder (1024 wide, 24 layers) and drop path 0.2.
#
#   tools/dist_train.sh configs/ivnext/stage1_vitl.py 64 --auto-scale-lr
_base_ = ['./stage1_vitb.py']

embed_dims = 1024
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    predictor=dict(in_dims=embed_dims),
    align_head=dict(in_dims=embed_dims))
