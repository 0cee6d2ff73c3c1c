# Video depth probe of a frozen InternVideo-Next ViT-L/14 on KITTI (paper
# Table 6, "w/ a simple probing head"; appendix A.3): windows of 32 frames
# with stride 10, batch 128 (8 GPUs x 16), 30 epochs, valid depth (1e-3, 80) m
# (the standard range; the paper's numbers are missing from its text).
# Data: data/kitti_depth/{train,val}.txt and <drive>/{rgb,depth}/ with the
# annotated depth (uint16, / 256 = metres), see docs/probe_depth.md.
#
#   tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=ENCODER.safetensors
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_30.pth 8
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/depth-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/video_depth_224.py',
    '../../_base_/schedules/depth-probe_adamw_cosine_30e.py',
]
default_scope = 'mmivnext'

data_root = 'data/kitti_depth'
num_frames = 32
stride = 10
depth_scale = 256.
depth_range = (1e-3, 80.)
batch_size = 16  # per GPU; 8 GPUs give the paper's 128

model = dict(
    backbone=dict(num_frames=num_frames),
    # Predictions start at 10 m, about KITTI's mean depth.
    head=dict(num_frames=num_frames, depth_range=depth_range,
              init_depth=10.))
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(data_root=data_root, clip_len=num_frames, stride=stride,
                 depth_scale=depth_scale))
val_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(data_root=data_root, clip_len=num_frames, stride=stride,
                 depth_scale=depth_scale))
test_dataloader = val_dataloader
val_evaluator = dict(min_depth=depth_range[0], max_depth=depth_range[1])
test_evaluator = val_evaluator
auto_scale_lr = dict(enable=False, base_batch_size=8 * batch_size)
