# Our trained InternVideo-Next encoder (exported by export_encoder.py from a
# Stage-2 checkpoint), frozen: the one home of its layout for every probe
# (attentive / fine-tuning recognizers, depth, tracking, anticipation). Probe
# model configs inherit this file and set `type`, the head, `arch` / clip
# size / out_type and the checkpoint (`init_cfg`).
# Layout: the authors' release (`VisionTransformer3D.released()`): 4 cls
# tokens, no qkv bias, RMSNorm (QK norm across heads), LayerScale, no final
# norm, RMSNorm before and after the patch projection, an attention-pooling
# projector to 768, and 16-frame position embeddings (as our Stage-1/2
# configs build it, docs/fidelity.md; configs/_base_/encoders/
# internvideo-next_vit-large-p14.py probes the release). Loading checks the
# exported JSON against these arguments. `frozen_stages` covers every layer: the
# encoder stays in eval mode without gradients (base: 12, large: 24).
model = dict(
    backbone=dict(
        type='mmivnext.VisionTransformer3D',
        arch='base',
        img_size=224,
        num_frames=16,
        patch_size=14,
        num_cls_tokens=4,
        qkv_bias=False,
        qk_norm='rmsnorm',
        qk_norm_across_heads=True,
        layer_scale_init_value=1e-5,
        norm_cfg=dict(type='RMSNorm', eps=1e-6),
        final_norm=False,
        patch_pixel_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        patch_norm_cfg=dict(type='RMSNorm', eps=1e-6),
        projector_cfg=dict(num_heads=16, out_dims=768, qkv_bias=True,
                           norm_cfg=dict(type='LN', eps=1e-5), query='mean'),
        frozen_stages=12,
        out_type='raw'))
