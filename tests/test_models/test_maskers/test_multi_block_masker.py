"""MultiBlockMasker: V-JEPA multi-block masks, one per mask config."""
import copy

import pytest
import torch

from mmivnext.models.maskers import MultiBlockMasker
from mmivnext.models.maskers.multi_block_masker import (STAGE2_MASK_CFGS,
                                                        authors_max_visible)
from mmivnext.registry import MODELS


def cfg(num_blocks=1, spatial_scale=(0.36, 0.36), aspect_ratio=(1.0, 1.0),
        temporal_scale=(1.0, 1.0), **extra):
    return dict(num_blocks=num_blocks, spatial_scale=spatial_scale,
                aspect_ratio=aspect_ratio, temporal_scale=temporal_scale,
                **extra)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def masked_grid(mask, grid):
    """``[B, T, H, W]`` bool, True where masked."""
    out = torch.zeros(mask.masked.shape[0], grid[0] * grid[1] * grid[2],
                      dtype=torch.bool)
    out.scatter_(1, mask.masked, True)
    return out.view(-1, *grid)


def box_extent(masked):
    """``(t, h, w)`` of the bounding box of a ``[T, H, W]`` mask, asserting
    that the mask is exactly that box."""
    coords = masked.nonzero()
    extent = tuple((coords.max(0).values - coords.min(0).values + 1).tolist())
    assert len(coords) == extent[0] * extent[1] * extent[2], 'not a box'
    return extent


def test_default_configs_shapes(check_mask):
    masker = MultiBlockMasker()
    assert [c.num_blocks for c in masker.mask_cfgs] == [8, 2]
    masks = masker(4, (8, 14, 14), generator=gen())
    assert isinstance(masks, list) and len(masks) == 2
    for mask in masks:
        check_mask(mask, 4, 8 * 14 * 14, mask.visible.shape[1])
        assert mask.visible.shape[1] >= 1


@pytest.mark.parametrize('grid', [(16, 16, 16), (8, 14, 14)])
def test_default_masked_fractions(grid):
    """8 blocks of 15 % with overlaps mask ~70 %, 2 blocks of 70 % ~90 %
    (V-JEPA's short- and long-range masks), over 40 batches of 8."""
    masker = MultiBlockMasker()
    num_tokens = grid[0] * grid[1] * grid[2]
    generator = gen()
    fractions = torch.tensor([[
        mask.masked.shape[1] / num_tokens
        for mask in masker(8, grid, generator=generator)
    ] for _ in range(40)])  # [40, 2]
    small, large = fractions.mean(0).tolist()
    assert 0.65 < small < 0.80 and 0.86 < large < 0.95
    assert ((fractions[:, 0] > 0.5) & (fractions[:, 0] < 0.9)).all()
    assert ((fractions[:, 1] > 0.75) & (fractions[:, 1] < 0.99)).all()


def test_tubes_when_temporal_scale_is_one():
    """A lone sample is not trimmed: the same spatial mask in every frame."""
    generator = gen()
    for _ in range(5):
        for mask in MultiBlockMasker()(1, (8, 14, 14), generator=generator):
            masked = masked_grid(mask, (8, 14, 14))[0]
            assert masked.any() and (masked == masked[:1]).all()


def test_batch_trim_drops_random_visible_tokens():
    """In a batch, the sample with the fewest visible tokens is an exact
    tube mask; the others lose visible tokens spread over all frames (V-JEPA
    drops the last ones)."""
    grid = (8, 8, 8)
    masker = MultiBlockMasker([cfg(num_blocks=8, spatial_scale=(0.15, 0.15),
                                   aspect_ratio=(0.75, 1.5))])
    generator = gen()
    extra_frames = []
    for _ in range(5):
        mask, = masker(16, grid, generator=generator)
        masked = masked_grid(mask, grid)  # [B, T, H, W]
        tubes = masked.all(1, keepdim=True)  # [B, 1, H, W]
        extra = masked & ~tubes  # masked, but not in a full tube
        assert (extra.flatten(1).sum(1) == 0).any()
        extra_frames.append(extra.nonzero()[:, 1])
    extra_frames = torch.cat(extra_frames).float()
    assert len(extra_frames) > 200
    assert abs(extra_frames.mean().item() - 3.5) < 0.5
    assert (extra_frames == 0).any() and (extra_frames == 7).any()


@pytest.mark.parametrize('scale,frames', [((0.5, 0.5), 4), ((0.3, 0.3), 2),
                                          ((0.01, 0.01), 1),
                                          ((1.0, 1.0), 8)])
def test_temporal_scale_sets_the_block_duration(scale, frames):
    """One block of floor(T * scale) (at least 1) consecutive frames."""
    masker = MultiBlockMasker([cfg(temporal_scale=scale)])
    mask, = masker(6, (8, 10, 10), generator=gen())
    masked = masked_grid(mask, (8, 10, 10))
    starts = set()
    for sample in masked:
        assert box_extent(sample) == (frames, 6, 6)
        starts.add(sample.nonzero()[0, 0].item())
    assert len(starts) > 1 or frames == 8


@pytest.mark.parametrize('grid,scales,extent', [
    ((100, 2, 2), dict(temporal_scale=(0.29, 0.29)), (29, 1, 1)),
    ((2, 10, 10), dict(spatial_scale=(0.001, 0.001)), (2, 1, 1)),
    ((2, 10, 10), dict(spatial_scale=(0.01, 0.01), aspect_ratio=(9.0, 9.0)),
     (2, 3, 1)),
])
def test_floors_forgive_float_error_and_blocks_have_a_token(
        grid, scales, extent):
    """100 * 0.29 is 28.999...: 29 frames; an area of 0 or a width of 0.33
    still gives a 1-token-wide block."""
    mask, = MultiBlockMasker([cfg(**scales)])(2, grid, generator=gen())
    for sample in masked_grid(mask, grid):
        assert box_extent(sample) == extent


def test_block_size_drawn_once_per_batch():
    """Every sample of a batch has the same (t, h, w); batches differ."""
    masker = MultiBlockMasker([cfg(spatial_scale=(0.1, 0.5),
                                   aspect_ratio=(0.5, 2.0),
                                   temporal_scale=(0.25, 0.75))])
    generator = gen()
    sizes = set()
    for _ in range(10):
        mask, = masker(4, (8, 10, 10), generator=generator)
        extents = {box_extent(m) for m in masked_grid(mask, (8, 10, 10))}
        assert len(extents) == 1
        sizes |= extents
    assert len(sizes) > 3
    assert all(2 <= t <= 6 for t, _, _ in sizes)


@pytest.mark.parametrize('ratio,hw', [(1.0, (6, 6)), (2.25, (9, 4)),
                                      (0.5, (4, 8)), (16.0, (10, 2))])
def test_aspect_ratio_is_height_over_width(ratio, hw):
    """Area 36 of a 10 x 10 frame: h = round(sqrt(36 r)), w = round(sqrt(36
    / r)), clipped to the grid."""
    masker = MultiBlockMasker([cfg(aspect_ratio=(ratio, ratio))])
    mask, = masker(2, (3, 10, 10), generator=gen())
    for sample in masked_grid(mask, (3, 10, 10)):
        assert box_extent(sample) == (3, ) + hw


def test_max_visible_caps_from_the_unmasked_tokens(check_mask):
    """One block per sample leaves every sample the same count, so without a
    cap nothing is trimmed; the capped visible tokens are among those."""
    grid, seed = (4, 10, 10), 3
    plain, = MultiBlockMasker([cfg()])(3, grid, generator=gen(seed))
    check_mask(plain, 3, 400, 400 - 4 * 36)
    capped, = MultiBlockMasker([cfg(max_visible=50)])(3, grid,
                                                      generator=gen(seed))
    check_mask(capped, 3, 400, 50)
    for kept, allowed in zip(capped.visible, plain.visible):
        assert torch.isin(kept, allowed).all()
    loose, = MultiBlockMasker([cfg(max_visible=1000)])(3, grid,
                                                       generator=gen(seed))
    assert torch.equal(loose.visible, plain.visible)


def test_configs_are_independent_masks():
    masker = MultiBlockMasker([cfg(), cfg(max_visible=10)])
    first, second = masker(2, (4, 10, 10), generator=gen())
    assert first.visible.shape == (2, 256) and second.visible.shape == (2, 10)


def test_reproducible_and_no_global_rng():
    masker = MultiBlockMasker()

    def draw(seed):
        return [m.visible for m in masker(4, (4, 8, 8), generator=gen(seed))]

    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = draw(3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(1)
    second = draw(3)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(draw(3)[0], draw(4)[0])


def test_redraws_samples_left_without_visible_tokens():
    """Four 1-token blocks on a 2 x 2 grid cover it with probability 4! / 4^4
    (~9 %) per draw; such samples are redrawn, never returned empty."""
    masker = MultiBlockMasker([cfg(num_blocks=4, spatial_scale=(0.25, 0.25))])
    mask, = masker(200, (1, 2, 2), generator=gen())
    assert mask.visible.shape == (200, 1)


def test_block_covering_the_grid_raises():
    masker = MultiBlockMasker([cfg(spatial_scale=(1.0, 1.0))])
    with pytest.raises(RuntimeError, match=r'mask_cfgs\[0\].*whole'):
        masker(2, (2, 3, 3), generator=gen())


@pytest.mark.parametrize('cfgs,error,match', [
    ([], ValueError, 'non-empty'),
    (cfg(), ValueError, 'non-empty'),
    ([cfg(), 3], TypeError, r'mask_cfgs\[1\] must be a dict'),
    ([dict(num_blocks=1)], ValueError, 'misses.*spatial_scale'),
    ([cfg(num_block=2)], ValueError, 'unknown keys.*num_block'),
    ([cfg(max_keep=10)], ValueError, 'unknown keys.*max_keep'),
    ([cfg(num_blocks=0)], ValueError, 'num_blocks'),
    ([cfg(num_blocks=2.0)], ValueError, 'num_blocks'),
    ([cfg(num_blocks=True)], ValueError, 'num_blocks'),
    ([cfg(spatial_scale=0.3)], TypeError, 'spatial_scale'),
    ([cfg(spatial_scale=(0.3, 0.2))], ValueError, 'spatial_scale'),
    ([cfg(spatial_scale=(0.0, 0.2))], ValueError, 'spatial_scale'),
    ([cfg(spatial_scale=(0.5, 1.5))], ValueError, 'spatial_scale'),
    ([cfg(aspect_ratio=(0.0, 1.0))], ValueError, 'aspect_ratio'),
    ([cfg(aspect_ratio=(1.0, float('inf')))], ValueError, 'aspect_ratio'),
    ([cfg(aspect_ratio=(1.0, 2.0, 3.0))], TypeError, 'aspect_ratio'),
    ([cfg(temporal_scale=(0.5, 1.1))], ValueError, 'temporal_scale'),
    ([cfg(temporal_scale=('a', 1.0))], TypeError, 'temporal_scale'),
    ([cfg(max_visible=0)], ValueError, 'max_visible'),
    ([cfg(max_visible=2.5)], ValueError, 'max_visible'),
])
def test_bad_configs(cfgs, error, match):
    with pytest.raises(error, match=match):
        MultiBlockMasker(cfgs)


@pytest.mark.parametrize('batch,grid', [(0, (2, 2, 2)), (2, (2, 2)),
                                        (2, (2, 0, 2))])
def test_bad_call(batch, grid):
    with pytest.raises(ValueError, match='grid_size'):
        MultiBlockMasker()(batch, grid)


def test_build_from_registry_leaves_the_config_alone():
    cfgs = [cfg(num_blocks=2, spatial_scale=[0.2, 0.3], max_visible=20)]
    original = copy.deepcopy(cfgs)
    masker = MODELS.build(dict(type='MultiBlockMasker', mask_cfgs=cfgs))
    assert isinstance(masker, MultiBlockMasker) and cfgs == original
    assert masker.mask_cfgs[0].spatial_scale == (0.2, 0.3)
    assert masker(2, (2, 8, 8))[0].visible.shape == (2, 20)


def visible_grid(mask, grid):
    """``[B, T, H, W]`` bool, True where visible."""
    return ~masked_grid(mask, grid)


def test_first_keeps_the_first_visible_tokens_in_raster_order(
        monkeypatch, check_mask):
    """On a fixed block union (rows of different visible counts), 'first'
    keeps each row's first K visible positions, K the smallest count or the
    cap, as a plain loop finds them."""
    grid, batch = (3, 4, 5), 6
    masked = torch.rand(batch, 60, generator=gen(1)) < 0.6  # [B, N]
    counts = (~masked).sum(1)
    assert (counts > 0).all() and len(set(counts.tolist())) > 1
    monkeypatch.setattr(MultiBlockMasker, '_place_blocks',
                        staticmethod(lambda *args: masked.clone()))
    for max_visible in (None, 7):
        masker = MultiBlockMasker([cfg(max_visible=max_visible)],
                                  context_keep='first')
        mask, = masker(batch, grid, generator=gen())
        num_keep = min(counts.min().item(), max_visible or 60)
        check_mask(mask, batch, 60, num_keep)
        for row, kept in zip(masked.tolist(), mask.visible.tolist()):
            first = []
            for index, is_masked in enumerate(row):
                if not is_masked and len(first) < num_keep:
                    first.append(index)
            assert kept == first


def test_first_with_a_cap_keeps_the_early_frames():
    """One 8 x 8 tube on (32, 16, 16) leaves 192 visible per frame (6144);
    the cap 1600 keeps frames 0-7 whole (1536) and the first 64 visible
    tokens of frame 8, in (h, w) order."""
    grid = (32, 16, 16)
    masker = MultiBlockMasker(
        [cfg(spatial_scale=(0.25, 0.25), max_visible=1600)],
        context_keep='first')
    mask, = masker(4, grid, generator=gen())
    assert mask.masked.shape[1] / 8192 == 1 - 1600 / 8192
    visible = visible_grid(mask, grid)  # [B, T, H, W]
    per_frame = visible.flatten(2).sum(2)  # [B, T]
    assert (per_frame[:, :8] == 192).all()
    assert (per_frame[:, 8] == 64).all()
    assert not visible[:, 9:].any()
    for sample in visible:
        assert box_extent(~sample[:1]) == (1, 8, 8)
        assert (sample[:8] == sample[:1]).all()
        tube = sample[0].flatten().nonzero().squeeze(1)  # [192]
        frame8 = sample[8].flatten().nonzero().squeeze(1)
        assert torch.equal(frame8, tube[:64])


def assert_raster_prefix_of_tubes(sample):
    """A ``[T, H, W]`` visibility that is the first tokens, in (t, h, w)
    order, of one spatial set repeated in every frame: frame 0's set, then
    whole copies of it, then a prefix of it, then nothing."""
    tube = sample[0].flatten().nonzero().squeeze(1)
    previous_full = True
    for frame in sample:
        kept = frame.flatten().nonzero().squeeze(1)
        assert torch.equal(kept, tube[:len(kept)])
        assert previous_full or len(kept) == 0
        previous_full = len(kept) == len(tube)


def test_stage2_defaults_with_authors_cap_concentrate_early():
    """The authors' Stage 2 masks at 32 frames: at most 1600 visible, a
    raster-order prefix of each sample's tubes; the 8-block context fills
    about the first 2 / 3 of the clip."""
    grid = (32, 16, 16)
    cap = authors_max_visible(32)
    masker = MultiBlockMasker(
        [dict(c, max_visible=cap) for c in STAGE2_MASK_CFGS],
        context_keep='first')
    generator = gen()
    small_frames = []
    for _ in range(5):
        masks = masker(4, grid, generator=generator)
        for mask in masks:
            assert mask.visible.shape[1] <= cap
            for sample in visible_grid(mask, grid):
                assert_raster_prefix_of_tubes(sample)
        small = masks[0]
        assert small.visible.shape[1] == cap  # ~77 visible per frame
        # The context ends before frame ceil(cap / fewest per frame).
        per_frame = visible_grid(small, grid)[:, 0].flatten(1).sum(1)
        bound = -(-cap // per_frame.min().item())
        frames = small.visible // 256  # [B, K]
        assert bound < 32 and (frames < bound).all()
        small_frames.append(frames.flatten())
    assert torch.cat(small_frames).float().mean() < 12  # 'random': ~15.5


def test_random_keep_spreads_over_the_clip():
    """The default keeps a uniform K: with the cap, late frames keep tokens
    (the contrast to 'first')."""
    cfgs = [dict(STAGE2_MASK_CFGS[0], max_visible=authors_max_visible(32))]
    mask, = MultiBlockMasker(cfgs)(4, (32, 16, 16), generator=gen())
    frames = (mask.visible // 256).float()
    assert (frames.max(1).values >= 28).all() and frames.mean() > 14


@pytest.mark.parametrize('frames,cap', [(32, 1600), (16, 800), (8, 400),
                                        (12, 600), (4, 200)])
def test_authors_max_visible(frames, cap):
    assert authors_max_visible(frames) == cap


@pytest.mark.parametrize('frames', [0, 2.0, True, '32'])
def test_authors_max_visible_bad(frames):
    with pytest.raises(ValueError, match=f'num_frames.*{frames!r}'):
        authors_max_visible(frames)


@pytest.mark.parametrize('value', ['last', 'First', None])
def test_bad_context_keep_names_the_value(value):
    with pytest.raises(ValueError, match=f'context_keep.*{value!r}'):
        MultiBlockMasker(context_keep=value)


def test_context_keep_default_and_registry():
    assert MultiBlockMasker().context_keep == 'random'
    masker = MODELS.build(dict(type='MultiBlockMasker', context_keep='first'))
    assert masker.context_keep == 'first'
    assert "context_keep='first'" in repr(masker)
