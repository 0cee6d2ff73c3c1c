# Table 3 "if w/ Unmasked Token Alignment Loss": the student's visible tokens
# are also aligned with the teacher's (as in Stage 1).
_base_ = ['./ivnext-stage2-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(
    visible_align_head=dict(type='LatentPredictionHead'))
