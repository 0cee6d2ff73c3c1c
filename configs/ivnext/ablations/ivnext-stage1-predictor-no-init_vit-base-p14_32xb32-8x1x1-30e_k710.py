# Table 1(a) "+ Diffusion Decoder" and Table 1(b) "last5 w/o init": the
# diffusion decoder with the last 5 ModernBERT-Large layers initialised at
# random instead of from the pretrained text model.
_base_ = ['./ivnext-stage1-ablation_vit-base-p14_32xb32-8x1x1-30e_k710.py']

model = dict(predictor=dict(init='none'))
