# EPIC-KITCHENS-100 action anticipation with a frozen InternVideo-Next ViT-L/14
# and its frozen Stage-2 predictor (paper Table 8: class-mean recall@5 of
# verb / noun / action). Follows V-JEPA 2's protocol where the paper is
# silent: 32-frame contexts at 8 fps ending 1 s before the action, a 4-block
# attentive probe with one query per task, sigmoid focal loss, 20 epochs at
# batch 128. See docs/probe_anticipation.md.
#
#   python tools/data/ek100_action_map.py \
#       data/epic-kitchens-100-annotations/EPIC_100_train.csv \
#       data/epic-kitchens-100-annotations/actions.csv
#   tools/dist_train.sh THIS_CONFIG 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=STAGE2.pth \
#       model.predictor_checkpoint=STAGE2.pth model.head.num_actions=N
#   tools/dist_test.sh THIS_CONFIG work_dirs/<config name>/epoch_20.pth 8
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/anticipation-probe_ivnext-vit-large-p14.py',
    '../../_base_/datasets/ek100_anticipation_32f8fps.py',
    '../../_base_/schedules/anticipation-probe_adamw_cosine_20e.py',
]
default_scope = 'mmivnext'

# A probe checkpoint holds the frozen encoder and predictor too (~1.5 GB):
# keep the last and the best one.
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=1,
                    save_best='action_mean_recall@5', rule='greater'))
