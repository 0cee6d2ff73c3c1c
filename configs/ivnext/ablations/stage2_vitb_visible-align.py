# Table 3 "if w/ Unmasked Token Alignment Loss": the student's visible tokens
# are also aligned with the teacher's (as in Stage 1).
_base_ = ['./stage2_vitb_ablation-base.py']

model = dict(
    visible_align_head=dict(type='LatentPredictionHead'))
