# Object-tracking probe of a frozen InternVideo-Next ViT-L/14 on Waymo Open
# (paper Table 7: mean IoU 72.4). Windows of 16 frames at 5 fps (every 2nd
# frame of the 10 fps videos), 224 x 224. Build the windows first
# (docs/probe_tracking.md):
#
#   python tools/data/build_tracking_windows.py \
#       data/waymo_tracking/annotations_train.json \
#       data/waymo_tracking/windows_train.json \
#       --src-frames data/waymo_tracking/raw_frames \
#       --dst-frames data/waymo_tracking/frames        # and the same for val
#   tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=ENCODER.safetensors
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/best_*.pth 8
#
# Schedule: the paper gives none for tracking; we use the attentive probes'
# (AdamW lr 1e-3 at batch 256 = 8 GPUs x 32, wd 0.05, 1 warmup epoch, cosine,
# 20 epochs), validating every epoch and keeping the best mean IoU.
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/box-tracking-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/box_tracking_16x224.py',
    '../../_base_/schedules/probe_adamw_cosine_20e.py',
]
default_scope = 'mmivnext'

default_hooks = dict(
    checkpoint=dict(save_best='tracking/mean_iou', rule='greater'))
