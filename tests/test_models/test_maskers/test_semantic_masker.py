"""SemanticMasker: per-frame visible tokens from teacher attention."""
import pytest
import torch

from mmivnext.models.maskers import SemanticMasker
from mmivnext.registry import MODELS


def attention(batch=3, frames=4, tokens=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, tokens, generator=gen).softmax(-1)


def draw(masker, attn, **kwargs):
    """The single mask of ``attn [B, T, n * n]`` on the ``(T, n, n)`` grid."""
    batch, frames, tokens = attn.shape
    side = int(tokens**0.5)
    masks = masker(batch, (frames, side, tokens // side), attention=attn,
                   **kwargs)
    assert isinstance(masks, list) and len(masks) == 1
    return masks[0]


def per_frame(visible, frames, tokens):
    """``[B, T, K_f]`` in-frame positions of flat visible indices (checks
    that every frame has K_f of them)."""
    frame = visible // tokens
    counts = torch.stack([(frame == t).sum(1) for t in range(frames)], dim=1)
    assert (counts == counts[0, 0]).all(), counts
    return (visible % tokens).view(visible.shape[0], frames, -1)


@pytest.mark.parametrize('mode', ['sample', 'topk'])
def test_exact_count_per_frame_sorted_disjoint_covering(mode, check_mask):
    masker = SemanticMasker(mask_ratio=0.75, mode=mode)
    mask = draw(masker, attention())
    check_mask(mask, 3, 64, 16)  # 16 - int(16 * 0.75) = 4 per frame
    assert per_frame(mask.visible, 4, 16).shape == (3, 4, 4)


def test_topk_keeps_the_highest_attention():
    attn = attention()
    mask = draw(SemanticMasker(mask_ratio=0.75, mode='topk'), attn)
    chosen = per_frame(mask.visible, 4, 16)
    expected = attn.topk(4, dim=-1).indices.sort(-1).values
    assert torch.equal(chosen, expected)


def test_sample_frequency_proportional_to_attention():
    """One draw per frame: token i is kept with probability p_i."""
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    attn = probs.expand(1, 4000, 4)
    mask = draw(SemanticMasker(mask_ratio=0.75), attn,
                generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(mask.visible.flatten() % 4, minlength=4) / 4000
    torch.testing.assert_close(freq, probs, atol=0.03, rtol=0)


def test_sample_is_without_replacement_draw_by_draw():
    """Two draws: P(i kept) = p_i + sum_{j != i} p_j p_i / (1 - p_j)."""
    probs = torch.tensor([0.05, 0.15, 0.3, 0.5])
    pair = probs[:, None] * probs[None] / (1 - probs[:, None])  # j then i
    expected = probs + pair.sum(0) - pair.diagonal()
    mask = draw(SemanticMasker(mask_ratio=0.5), probs.expand(1, 4000, 4),
                generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(mask.visible.flatten() % 4, minlength=4) / 4000
    torch.testing.assert_close(freq, expected, atol=0.03, rtol=0)


def test_sample_reproducible_with_generator():
    masker = SemanticMasker()
    attn = attention(tokens=25)

    def visible(seed):
        return draw(masker, attn,
                    generator=torch.Generator().manual_seed(seed)).visible

    assert torch.equal(visible(1), visible(1))
    assert not torch.equal(visible(1), visible(2))


def test_sample_survives_zero_weights(check_mask):
    """bf16 attention may underflow to zero on more tokens than are masked."""
    attn = torch.zeros(2, 3, 16)
    attn[:, 1:, 0] = 1.0  # frame 0: all zero; frames 1, 2: one token
    mask = draw(SemanticMasker(mask_ratio=0.75), attn)
    check_mask(mask, 2, 48, 12)
    assert (per_frame(mask.visible, 3, 16)[:, 1:, 0] == 0).all()


@pytest.mark.parametrize('bad,match', [
    (torch.rand(2, 16), 'does not match'),
    (torch.rand(3, 4, 16), 'does not match the batch size 2'),
    (-torch.rand(2, 4, 16), 'non-negative'),
    (torch.full((2, 4, 16), float('nan')), 'non-negative'),
    (torch.full((2, 4, 16), float('inf')), 'non-negative'),
])
def test_bad_attention(bad, match):
    with pytest.raises(ValueError, match=match):
        SemanticMasker()(2, (4, 4, 4), attention=bad)


@pytest.mark.parametrize('grid,match', [
    ((3, 4, 4), 'does not match the batch size 3 and token grid'),
    ((4, 4, 5), 'does not match the batch size 3 and token grid'),
    ((4, 16), 'grid_size'),
])
def test_grid_mismatch(grid, match):
    with pytest.raises(ValueError, match=match):
        SemanticMasker()(3, grid, attention=attention())


def test_needs_attention():
    masker = SemanticMasker()
    assert masker.needs_attention
    with pytest.raises(ValueError, match='pass attention'):
        masker(3, (4, 4, 4))


def test_indices_on_the_requested_device():
    mask = draw(SemanticMasker(), attention(), device='meta')
    assert mask.visible.device.type == 'meta'


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        SemanticMasker(mode='random')
    with pytest.raises(ValueError, match=r'in \(0, 1\)'):
        SemanticMasker(mask_ratio=1.0)
    # 16 - int(16 * 0.05) = 16 visible: none masked.
    with pytest.raises(ValueError, match='leaves 16 visible'):
        draw(SemanticMasker(mask_ratio=0.05), attention())


def test_build_from_registry():
    masker = MODELS.build(dict(type='SemanticMasker', mode='topk'))
    assert isinstance(masker, SemanticMasker)
    assert repr(masker) == "SemanticMasker(mask_ratio=0.8, mode='topk')"
