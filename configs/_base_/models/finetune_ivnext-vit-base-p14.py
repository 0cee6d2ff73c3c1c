# Fine-tuning an InternVideo-Next ViT-B/14 encoder (paper Table 15) as an
# mmaction2 Recognizer3D: the encoder of the attentive-probe config (same
# released layout, same exported weights), but trained (drop path 0.1), with a
# LayerNorm + linear head on the mean patch token, label smoothing 0.1 and
# CutMix 1.0. Configs that use it run in mmaction2's scope
# (default_scope = 'mmaction').
_base_ = ['./attentive-probe_ivnext-vit-base-p14.py']

model = dict(
    backbone=dict(frozen_stages=-1, drop_path_rate=0.1),
    cls_head=dict(
        _delete_=True,
        type='mmivnext.LinearProbeHead',
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.embed_dims}},
        norm='LN',
        dropout_ratio=0.5,
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        blending=dict(type='CutmixBlending',
                      num_classes={{_base_.num_classes}}, alpha=1.0)))
