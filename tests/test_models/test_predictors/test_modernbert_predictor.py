"""ModernBertPredictor: tiny random ModernBERT checkpoints only (6 layers,
width 64), saved to a temporary folder and loaded offline."""
import os
import shutil

import pytest
import torch
from predictor_helpers import (GRID, IN_DIMS, NUM_CLS, TINY_BERT,
                               PassThroughLayer, random_inputs)
from safetensors.torch import load_file
from torch import nn
from torch.testing import assert_close

from mmivnext.models.predictors import ModernBertPredictor
from mmivnext.registry import MODELS

#: ModernBERT-large, as in the authors' "w/o init" config.
MODERNBERT_LARGE = dict(
    hidden_size=1024, intermediate_size=2624, num_hidden_layers=28,
    num_attention_heads=16, global_attn_every_n_layers=3, local_attention=128,
    global_rope_theta=160000.0, local_rope_theta=10000.0, norm_eps=1e-5,
    norm_bias=False, attention_bias=False, mlp_bias=False,
    hidden_activation='gelu', max_position_embeddings=8192)


def build(pretrained, **kwargs):
    cfg = dict(in_dims=IN_DIMS, grid_size=GRID, num_cls_tokens=NUM_CLS,
               num_layers=4, pretrained=pretrained)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return ModernBertPredictor(**cfg).eval()


def transformers_last_layers(path, k, attn_implementation):
    """The transformers model of ``path`` reduced to its last ``k`` layers:
    embedding norm, first layers and final norm replaced by identities."""
    from transformers import ModernBertModel

    model = ModernBertModel.from_pretrained(
        path, attn_implementation=attn_implementation).eval()
    model.embeddings.norm = nn.Identity()
    model.final_norm = nn.Identity()
    for i in range(len(model.layers) - k):
        model.layers[i] = PassThroughLayer()
    return model


# ------------------------------------------------------- equivalence with HF
@pytest.mark.parametrize('k,attn_implementation', [
    (4, 'eager'), (4, 'sdpa'), (6, 'eager')])
def test_layers_match_transformers(tiny_modernbert_dir, k, attn_implementation):
    """Layers 2..5 (local, global, local, local), or all six (layer 0 has no
    attention norm), against transformers on the same hidden states."""
    predictor = build(tiny_modernbert_dir, num_layers=k)
    reference = transformers_last_layers(tiny_modernbert_dir, k,
                                         attn_implementation)
    types = [reference.config.layer_types[i] for i in predictor.layer_indices]
    assert {'full_attention', 'sliding_attention'} <= set(types)
    hidden = torch.randn(2, 20, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(inputs_embeds=hidden).last_hidden_state
        out = predictor._forward_layers(hidden)
        # fp32 (the RoPE is float32 by design): each side lies a few eps
        # (1.2e-7) of the outputs' scale (~7) from the float64 result, by
        # kernel-dependent rounding; 1e-5 (~80 eps) of that scale covers it.
        assert_close(out, expected, rtol=0,
                     atol=1e-5 * float(expected.abs().max()))
        # The local window matters at this length: all-global layers differ.
        for layer in predictor.layers:
            layer.half_window = None
        assert not torch.allclose(predictor._forward_layers(hidden), expected,
                                  atol=1e-3)


def test_full_forward_matches_transformers(tiny_modernbert_dir):
    """forward() = transformers' last layers applied to the embedded input."""
    predictor = build(tiny_modernbert_dir)
    reference = transformers_last_layers(tiny_modernbert_dir, 4, 'sdpa')
    tokens, vis, msk = random_inputs()
    with torch.no_grad():
        out = predictor(tokens, vis, msk)
        embedded = predictor._embed(tokens, vis, msk, GRID)
        expected = reference(inputs_embeds=embedded).last_hidden_state
    assert_close(out, expected)


def test_layer_types_follow_original_index(tiny_modernbert_dir):
    predictor = build(tiny_modernbert_dir, num_layers=5)
    assert predictor.layer_indices == (1, 2, 3, 4, 5)
    assert [layer.is_global for layer in predictor.layers] == \
        [False, False, True, False, False]
    assert [layer.rope_theta for layer in predictor.layers] == \
        [1e4, 1e4, 1.6e5, 1e4, 1e4]
    assert [layer.half_window for layer in predictor.layers] == \
        [4, 4, None, 4, 4]


def test_modernbert_large_last5_layout():
    """The paper's predictor: layers 23..27 of ModernBERT-large, width 1024
    (built on the meta device: no memory, no download)."""
    with torch.device('meta'):
        predictor = ModernBertPredictor(
            in_dims=768, grid_size=(16, 16, 16), pretrained=MODERNBERT_LARGE,
            init='none')
    assert predictor.embed_dims == 1024
    assert predictor.layer_indices == (23, 24, 25, 26, 27)
    assert [layer.is_global for layer in predictor.layers] == \
        [False, True, False, False, True]
    assert [layer.rope_theta for layer in predictor.layers] == \
        [1e4, 1.6e5, 1e4, 1e4, 1.6e5]
    assert predictor.layers[0].half_window == 64
    per_layer = sum(p.numel() for p in predictor.layers[0].parameters())
    # Wqkv, Wo, Wi (2 x 2624), Wo of the MLP, two bias-free LayerNorms.
    assert per_layer == 4 * 1024**2 + 3 * 1024 * 2624 + 2 * 1024
    assert predictor.proj.fc2.weight.shape == (1024, 768)


# ---------------------------------------------------------------- outputs
def test_output_shapes_and_masked_only(tiny_modernbert_dir):
    predictor = build(tiny_modernbert_dir)
    tokens, vis, msk = random_inputs(num_visible=5)
    msk = msk.flip(1)  # any order: the masked output follows it
    with torch.no_grad():
        full = predictor(tokens, vis, msk)
        masked = predictor(tokens, vis, msk, masked_only=True)
    assert full.shape == (2, NUM_CLS + 18, 64)
    assert masked.shape == (2, 13, 64)
    for b in range(2):
        assert_close(masked[b], full[b, NUM_CLS + msk[b]])


def test_gradients_reach_projection_mask_token_and_layers(tiny_modernbert_dir):
    predictor = build(tiny_modernbert_dir).train()
    tokens, vis, msk = random_inputs()
    tokens.requires_grad_(True)
    predictor(tokens, vis, msk, masked_only=True).square().sum().backward()
    for name in ('mask_token', 'pos_embed', 'proj.fc1.weight',
                 'proj.fc2.weight', 'proj.norm.weight',
                 'layers.0.attn.Wqkv.weight', 'layers.3.mlp.Wo.weight'):
        grad = predictor.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert tokens.grad.abs().sum() > 0


def test_gradient_checkpointing_same_result(tiny_modernbert_dir):
    tokens, vis, msk = random_inputs()
    grads = []
    for with_cp in (False, True):
        predictor = build(tiny_modernbert_dir, with_cp=with_cp).train()
        out = predictor(tokens, vis, msk)
        out.sum().backward()
        grads.append((out.detach(), predictor.layers[0].attn.Wqkv.weight.grad))
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])


def test_local_attention_kernels_agree(tiny_modernbert_dir):
    """The blocked kernel (the default) gives the dense path's outputs and
    gradients, in float64; L = 20 is longer than the window (9)."""
    tokens, vis, msk = random_inputs()
    results = []
    for kernel in ('dense', 'blocked'):
        predictor = build(tiny_modernbert_dir, local_attn_kernel=kernel)
        predictor.double().train()
        out = predictor(tokens.double(), vis, msk)
        (out * out.detach().cos()).sum().backward()
        results.append([out] + [p.grad for p in predictor.parameters()])
    assert build(tiny_modernbert_dir).local_attn_kernel == 'blocked'
    for got, expected in zip(results[1], results[0]):
        assert_close(got, expected)
    with pytest.raises(ValueError, match='local_attn_kernel must be one of'):
        build(tiny_modernbert_dir, local_attn_kernel='sparse')


# ---------------------------------------------------------------- weights
def test_pretrained_layers_equal_checkpoint_last_k(tiny_modernbert_dir):
    predictor = build(tiny_modernbert_dir, num_layers=4)
    checkpoint = load_file(os.path.join(tiny_modernbert_dir,
                                        'model.safetensors'))
    state = predictor.state_dict()
    layer_keys = [k for k in state if k.startswith('layers.')]
    for key in layer_keys:
        j, rest = key[len('layers.'):].split('.', 1)
        assert_close(state[key], checkpoint[f'layers.{int(j) + 2}.{rest}'],
                     rtol=0, atol=0)
    # Exactly the checkpoint entries of layers 2..5, nothing of the rest.
    assert len(layer_keys) == sum(
        k.startswith(('layers.2.', 'layers.3.', 'layers.4.', 'layers.5.'))
        for k in checkpoint)
    assert {k.split('.')[0] for k in state} == {
        'mask_token', 'pos_embed', 'pos_embed_grid', 'proj', 'layers'}


def test_init_none_is_modernbert_random_init(tiny_modernbert_dir, tmp_path):
    # Only the config is read: a folder without weights is enough.
    shutil.copy(os.path.join(tiny_modernbert_dir, 'config.json'), tmp_path)
    predictor = build(str(tmp_path), init='none')
    checkpoint = load_file(os.path.join(tiny_modernbert_dir,
                                        'model.safetensors'))
    wqkv = predictor.layers[0].attn.Wqkv.weight
    assert not torch.allclose(wqkv, checkpoint['layers.2.attn.Wqkv.weight'])
    std, out_std = 0.02, 0.02 / (2 * 6)**.5
    for layer in predictor.layers:
        for weight, s in ((layer.attn.Wqkv.weight, std),
                          (layer.mlp.Wi.weight, std),
                          (layer.attn.Wo.weight, out_std),
                          (layer.mlp.Wo.weight, out_std)):
            assert weight.abs().max() <= 2 * s  # truncated at 2 std
            assert 0.7 * s < weight.std() < s
    # The same folder cannot give pretrained weights.
    with pytest.raises(OSError, match=str(tmp_path)):
        build(str(tmp_path), init='pretrained')


def test_init_none_from_config_dict():
    predictor = build(TINY_BERT, init='none')
    assert predictor.embed_dims == 64 and len(predictor.layers) == 4
    with pytest.raises(ValueError, match='checkpoint name or folder'):
        build(TINY_BERT, init='pretrained')


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize('num_layers', [0, 7])
def test_num_layers_out_of_range(num_layers):
    with pytest.raises(ValueError, match=r'num_layers must be in \[1, 6\]'):
        build(TINY_BERT, init='none', num_layers=num_layers)


def test_missing_pretrained_folder_names_path(tmp_path):
    missing = str(tmp_path / 'no_such_modernbert')
    with pytest.raises(FileNotFoundError, match='no_such_modernbert'):
        build(missing)


def test_bad_init_and_pretrained_type():
    with pytest.raises(ValueError, match='init must be one of'):
        build(TINY_BERT, init='random')
    with pytest.raises(TypeError, match='pretrained must be'):
        build(3, init='none')


def test_registry_build(tiny_modernbert_dir):
    predictor = MODELS.build(dict(
        type='mmivnext.ModernBertPredictor', in_dims=IN_DIMS, grid_size=GRID,
        num_cls_tokens=NUM_CLS, num_layers=2, pretrained=tiny_modernbert_dir))
    assert isinstance(predictor, ModernBertPredictor)
    assert predictor.layer_indices == (4, 5)


def test_init_weights_keeps_loaded_layers(tiny_modernbert_dir):
    predictor = build(tiny_modernbert_dir)
    before = {k: v.clone() for k, v in predictor.state_dict().items()}
    predictor.init_weights()
    for key, value in predictor.state_dict().items():
        assert_close(value, before[key], rtol=0, atol=0)
