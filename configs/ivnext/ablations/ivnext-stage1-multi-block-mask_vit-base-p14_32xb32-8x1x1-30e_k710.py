# Table 4 "Stage-1 Multi-block": Stage 1 with the Stage-2 multi-block masks
# (8 blocks of 15 % and 2 of 70 %; the student runs once per mask config)
# instead of semantic masks.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(masker=dict(_delete_=True, type='MultiBlockMasker'))
