# InternVideo-Next Stage 2, ViT-L/14: as stage2_vitb.py with the large encoder
# (from a stage1_vitl.py run), drop path 0.2 and batch 1024 (64 GPUs x 16;
# paper Table 14 and the authors' large script, 128 x 8): lr 1e-4 per 256
# clips = 4e-4.
#
#   python tools/model_converters/stage1_to_stage2.py \
#       work_dirs/stage1_vitl/epoch_50.pth work_dirs/stage1_vitl/stage2_init.pth
#   tools/dist_train.sh configs/ivnext/stage2_vitl.py 64
_base_ = ['./stage2_vitb.py']

batch_size = 1024
stage1_checkpoint = 'work_dirs/stage1_vitl/stage2_init.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    teacher=dict(backbone=dict(arch='large'), checkpoint=stage1_checkpoint),
    init_checkpoint=stage1_checkpoint)
train_dataloader = dict(batch_size=16)
optim_wrapper = dict(optimizer=dict(lr=1e-4 * batch_size / 256))
auto_scale_lr = dict(base_batch_size=batch_size)
