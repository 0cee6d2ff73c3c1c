# Video depth probe of a frozen InternVideo-Next ViT-L/14 on ScanNet (paper
# Table 6, "w/ a simple probing head"; appendix A.3): as the KITTI config with
# windows of 16 frames with stride 5, batch 256 (8 GPUs x 32), valid depth
# (1e-3, 10) m (the standard indoor range; the paper's numbers are missing
# from its text). Data: data/scannet_depth/{train,val}.txt and
# <scene>/{rgb,depth}/ with colour frames resized to the 640 x 480 depth
# frames (uint16 millimetres, / 1000 = metres), see docs/probe_depth.md.
#
#   tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=ENCODER.safetensors
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_30.pth 8
_base_ = ['./depth-probe_ivnext-vit-large-p14_8xb16-32x1x1-30e_kitti.py']

data_root = 'data/scannet_depth'
num_frames = 16
stride = 5
depth_scale = 1000.
depth_range = (1e-3, 10.)
batch_size = 32  # per GPU; 8 GPUs give the paper's 256

model = dict(
    backbone=dict(num_frames=num_frames),
    # Predictions start at 2.5 m, about ScanNet's mean depth.
    head=dict(num_frames=num_frames, depth_range=depth_range,
              init_depth=2.5))
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
auto_scale_lr = dict(base_batch_size=8 * batch_size)
