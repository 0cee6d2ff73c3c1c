"""Training throughput of ``VisionTransformer3D`` against timm's and mmaction2's ViTs.

One forward and backward pass (``model.zero_grad``, forward, ``mean()`` of the
output, backward; no optimizer step) of the encoder alone, timed for:

* ``mmivnext VisionTransformer3D`` on all tokens of a ``[B, 3, T, H, W]`` clip;
* the same encoder with activation checkpointing (``with_cp=True``);
* the same encoder on a random ``--visible-ratio`` of the patch tokens
  (``visible_indices``, as in Stage 1), so on fewer tokens;
* timm 1.0's ``VisionTransformer`` fed an image ``[B, 3, H, T' * W]`` (the
  frames side by side), which gives exactly as many patch tokens;
* mmaction2 1.2's VideoMAE ``VisionTransformer`` (``vit_mae``) with the same
  frames, tubelet and patch size, so the same patch grid.

All run at the same width, depth, heads and MLP ratio, with qkv bias, LayerNorm
(eps 1e-6), GELU, learnable position embeddings, a final norm, no LayerScale,
no drop path and all dropout rates 0, in training mode, in one process, and
interleaved (one timed step of each model per round) so that a change in the
machine's load hits them alike. The table shows medians over the rounds and
ratios of tokens/s against the references.

Example::

    python benchmarks/bench_backbone.py --arch base --batch 1 --frames 8 \\
        --threads 2
"""
import argparse
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmivnext  # noqa: F401  (first: lets timm / torchvision / mmaction import)
import torch
from torch import Tensor, nn

from common import (DTYPES, add_common_args, environment, format_table,
                    matmul_peak, median, setup, time_fn)

#: Sizes: width, depth, heads; the MLP is 4 times as wide as the tokens. 'tiny'
#: is for smoke tests, the others are the usual ViT sizes.
ARCHS = {
    'tiny': dict(embed_dims=64, num_layers=2, num_heads=4),
    'small': dict(embed_dims=384, num_layers=12, num_heads=6),
    'base': dict(embed_dims=768, num_layers=12, num_heads=12),
    'large': dict(embed_dims=1024, num_layers=24, num_heads=16),
}
MLP_RATIO = 4
REFERENCES = ('timm', 'mmaction')
#: Most relative difference allowed between the parameter counts of the models.
PARAM_RTOL = 0.01

OURS = 'mmivnext VisionTransformer3D'
OURS_CP = 'mmivnext VisionTransformer3D, with_cp'
TIMM = 'timm VisionTransformer'
MMACTION = 'mmaction VisionTransformer (VideoMAE)'
REFERENCE_NAMES = {'timm': TIMM, 'mmaction': MMACTION}


@dataclass
class Entry:
    """One timed configuration.

    Attributes:
        name (str): Row label.
        model (nn.Module): The encoder (shared by our three rows).
        inputs (tuple): Positional arguments of ``forward``.
        tokens (int): Tokens per clip that go through the blocks (cls tokens
            included).
        patch_tokens (int): Patch tokens embedded per clip (before any
            selection of visible tokens).
        patch_pixels (int): Input values per patch (``3 * tubelet * p * p``;
            timm's 2D patches: ``3 * p * p``).
        with_cp (bool): Value of ``model.with_cp`` during the step (ours only).
        forward (callable, optional): ``forward(model, *inputs)`` if not the
            module's own call (timm: ``forward_features``).
        times (list[float]): Seconds per step, filled in by :func:`run`.
    """
    name: str
    model: nn.Module
    inputs: tuple
    tokens: int
    patch_tokens: int
    patch_pixels: int
    with_cp: Optional[bool] = None
    forward: Optional[Callable] = None
    times: List[float] = field(default_factory=list)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; errors name the offending value."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--arch', default='base', choices=sorted(ARCHS),
                        help='encoder size (tiny: 64 wide, 2 layers, 4 heads)')
    parser.add_argument('--batch', type=int, default=1, help='clips per step')
    parser.add_argument('--frames', type=int, default=8,
                        help='frames per clip T')
    parser.add_argument('--img-size', type=int, default=224,
                        help='frame height and width')
    parser.add_argument('--patch-size', type=int, default=14)
    parser.add_argument('--tubelet', type=int, default=1,
                        help='frames per patch (timm: patches stay 2D)')
    parser.add_argument('--cls-tokens', type=int, default=1,
                        help='cls tokens of ours; timm gets a class token plus '
                             'cls-tokens - 1 register tokens; mmaction\'s '
                             'VideoMAE ViT has none')
    parser.add_argument('--visible-ratio', type=float, default=0.2,
                        help='also time ours on this fraction of the patch '
                             'tokens (0 skips the row)')
    parser.add_argument('--references', nargs='+', default=list(REFERENCES),
                        choices=REFERENCES,
                        help='reference implementations to time')
    parser.add_argument('--dtype', default='float32', choices=sorted(DTYPES),
                        help='float32, or autocast to this dtype')
    add_common_args(parser)
    # A base step takes ~15 s on 2 CPU cores: keep the default run short.
    parser.set_defaults(warmup=1, iters=1)
    args = parser.parse_args(argv)
    args.references = list(dict.fromkeys(args.references))  # drop repeats

    if args.batch < 1:
        parser.error(f'--batch must be >= 1, got {args.batch}')
    if args.frames < 1 or args.tubelet < 1 or args.frames % args.tubelet:
        parser.error(f'--frames ({args.frames}) must be a positive multiple '
                     f'of --tubelet ({args.tubelet})')
    if args.patch_size < 1 or args.img_size < args.patch_size or \
            args.img_size % args.patch_size:
        parser.error(f'--img-size ({args.img_size}) must be a multiple of '
                     f'--patch-size ({args.patch_size})')
    if args.cls_tokens < 0:
        parser.error(f'--cls-tokens must be >= 0, got {args.cls_tokens}')
    if not 0 <= args.visible_ratio < 1:
        parser.error(f'--visible-ratio must be in [0, 1), got '
                     f'{args.visible_ratio}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    if args.iters < 1:
        parser.error(f'--iters must be >= 1, got {args.iters}')
    return args


# ------------------------------------------------------------------- models
def num_patch_tokens(frames: int, img_size: int, patch_size: int,
                     tubelet: int) -> int:
    """Patch tokens of a clip: ``(T / tubelet) * (img_size / patch_size)**2``."""
    return (frames // tubelet) * (img_size // patch_size)**2


def build_ours(arch: str, frames: int, img_size: int, patch_size: int,
               tubelet: int, cls_tokens: int) -> nn.Module:
    """Our ``VisionTransformer3D`` in the plain ViT configuration."""
    from mmivnext.models.backbones import VisionTransformer3D
    a = ARCHS[arch]
    return VisionTransformer3D(
        arch=dict(embed_dims=a['embed_dims'], num_layers=a['num_layers'],
                  num_heads=a['num_heads'],
                  feedforward_channels=a['embed_dims'] * MLP_RATIO),
        img_size=img_size, num_frames=frames, patch_size=patch_size,
        tubelet_size=tubelet, num_cls_tokens=cls_tokens, qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
        pos_embed_learnable=True, out_type='raw')


def build_timm(arch: str, frames: int, img_size: int, patch_size: int,
               tubelet: int, cls_tokens: int) -> nn.Module:
    """timm's ``VisionTransformer`` for an image of the frames side by side.

    The image is ``img_size`` high and ``(frames / tubelet) * img_size`` wide,
    so it has as many patches as the clip has tubelets. ``cls_tokens`` prefix
    tokens: one class token and ``cls_tokens - 1`` register tokens, all with
    position embeddings; with 0, no class token and average pooling.
    """
    from timm.models.vision_transformer import VisionTransformer
    a = ARCHS[arch]
    return VisionTransformer(
        img_size=(img_size, (frames // tubelet) * img_size),
        patch_size=patch_size, in_chans=3, num_classes=0,
        global_pool='token' if cls_tokens else 'avg', fc_norm=False,
        embed_dim=a['embed_dims'], depth=a['num_layers'],
        num_heads=a['num_heads'], mlp_ratio=MLP_RATIO, qkv_bias=True,
        init_values=None, class_token=cls_tokens > 0,
        reg_tokens=max(cls_tokens - 1, 0), no_embed_class=False,
        pos_embed='learn', final_norm=True, drop_rate=0., pos_drop_rate=0.,
        proj_drop_rate=0., attn_drop_rate=0., drop_path_rate=0.)


def build_mmaction(arch: str, frames: int, img_size: int, patch_size: int,
                   tubelet: int) -> nn.Module:
    """mmaction2's VideoMAE ``VisionTransformer`` with the same patch grid.

    It has no cls token, a bias on q and v only, and a norm after mean
    pooling (``use_mean_pooling=True``, the default) instead of one on the
    tokens; its position embedding is made learnable to match the others.
    """
    from mmaction.models.backbones import VisionTransformer
    a = ARCHS[arch]
    return VisionTransformer(
        img_size=img_size, patch_size=patch_size, in_channels=3,
        embed_dims=a['embed_dims'], depth=a['num_layers'],
        num_heads=a['num_heads'], mlp_ratio=MLP_RATIO, qkv_bias=True,
        drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
        norm_cfg=dict(type='LN', eps=1e-6), init_values=0.,
        use_learnable_pos_emb=True, num_frames=frames, tubelet_size=tubelet,
        use_mean_pooling=True)


def random_visible_indices(batch: int, num_patches: int, ratio: float,
                           generator: Optional[torch.Generator] = None
                           ) -> Tensor:
    """A random ``[B, K]`` LongTensor of sorted visible positions.

    ``K = max(1, round(ratio * num_patches))`` distinct positions per clip.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}')
    keep = max(1, round(ratio * num_patches))
    order = torch.rand(batch, num_patches, generator=generator).argsort(dim=1)
    return order[:, :keep].sort(dim=1).values


def build_entries(args: argparse.Namespace,
                  device: torch.device) -> List[Entry]:
    """The models and inputs of every row, on ``device``, in training mode.

    The weights keep their constructors' initialisation (no ``init_weights``):
    their values do not change the timing.
    """
    T, S, p, tub = args.frames, args.img_size, args.patch_size, args.tubelet
    n = num_patch_tokens(T, S, p, tub)
    B = args.batch
    pixels = 3 * tub * p * p
    video = torch.randn(B, 3, T, S, S, device=device)

    ours = build_ours(args.arch, T, S, p, tub, args.cls_tokens)
    ours.to(device).train()
    entries = [
        Entry(OURS, ours, (video, ), args.cls_tokens + n, n, pixels,
              with_cp=False),
        Entry(OURS_CP, ours, (video, ), args.cls_tokens + n, n, pixels,
              with_cp=True),
    ]
    if args.visible_ratio > 0:
        visible = random_visible_indices(B, n, args.visible_ratio).to(device)
        keep = visible.shape[1]
        entries.append(Entry(
            f'{OURS}, visible {args.visible_ratio:.0%} ({keep} of {n})', ours,
            (video, visible), args.cls_tokens + keep, n, pixels,
            with_cp=False))
    if 'timm' in args.references:
        model = build_timm(args.arch, T, S, p, tub, args.cls_tokens)
        image = torch.randn(B, 3, S, (T // tub) * S, device=device)
        entries.append(Entry(TIMM, model.to(device).train(), (image, ),
                             args.cls_tokens + n, n, 3 * p * p,
                             forward=lambda m, x: m.forward_features(x)))
    if 'mmaction' in args.references:
        model = build_mmaction(args.arch, T, S, p, tub)
        entries.append(Entry(MMACTION, model.to(device).train(), (video, ),
                             n, n, pixels))
    return entries


# --------------------------------------------------------------- measuring
def call(entry: Entry) -> Tensor:
    """Run ``entry``'s forward (with its ``with_cp`` setting) and return the
    output."""
    if entry.with_cp is not None:
        entry.model.with_cp = entry.with_cp
    if entry.forward is not None:
        return entry.forward(entry.model, *entry.inputs)
    return entry.model(*entry.inputs)


def measure_tokens(entry: Entry) -> int:
    """Tokens per clip that enter the first block, seen by a forward hook."""
    seen = []
    hook = entry.model.blocks[0].register_forward_pre_hook(
        lambda module, inputs: seen.append(inputs[0].shape[1]))
    try:
        with torch.no_grad():
            call(entry)
    finally:
        hook.remove()
    return seen[0]


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers, such as fixed embeddings, excluded)."""
    return sum(p.numel() for p in model.parameters())


def check_param_counts(counts: Dict[str, int],
                       rtol: float = PARAM_RTOL) -> None:
    """Raise an AssertionError if the counts differ by more than ``rtol``.

    Args:
        counts (dict[str, int]): Parameters per model name.
        rtol (float): Most allowed ``(max - min) / max``.
    """
    high, low = max(counts.values()), min(counts.values())
    if high - low > rtol * high:
        raise AssertionError(
            f'parameter counts differ by more than {rtol:.1%}: '
            + ', '.join(f'{k} {v}' for k, v in counts.items())
            + '; the models are not configured alike.')


def param_notes(args: argparse.Namespace, counts: Dict[str, int]) -> List[str]:
    """Explain the differences of the parameter counts from ours."""
    C, depth = ARCHS[args.arch]['embed_dims'], ARCHS[args.arch]['num_layers']
    notes = []
    for key in args.references:
        name = REFERENCE_NAMES[key]
        diff = counts[name] - counts[OURS]
        if key == 'timm':
            prefix = (f'class + {args.cls_tokens - 1} register tokens'
                      if args.cls_tokens else 'no prefix tokens')
            why = (f'expected 0: same patch embedding, {prefix}, position '
                   'embedding, blocks and final norm')
        else:
            why = (f'no cls tokens and no position-embedding rows for them '
                   f'(-2 x {args.cls_tokens} x {C}), no k bias '
                   f'(-{depth} x {C}); its norm after pooling has as many '
                   'parameters as our final norm')
        notes.append(f'- {name}: {diff:+d} parameters vs ours ({why}).')
    return notes


def training_flops(entry: Entry, arch: str) -> float:
    """Model FLOPs of one forward + backward step of ``entry``.

    2 FLOPs per multiply-add of the matrix products: qkv, attention scores and
    weighted sum, output projection and MLP, 3 times (forward, gradients of
    the inputs and of the weights), and the patch embedding 2 times (the
    video needs no gradient). Norms, softmax and activations are left out,
    and so is the recomputation of activation checkpointing.
    """
    a = ARCHS[arch]
    C, L, F = a['embed_dims'], a['num_layers'], a['embed_dims'] * MLP_RATIO
    N, T = entry.patch_tokens, entry.tokens
    patch = 2 * N * C * entry.patch_pixels
    block = 2 * T * C * (4 * C + 2 * F) + 4 * T * T * C
    return 2. * patch + 3. * L * block


def run(entries: List[Entry], device: torch.device, dtype: torch.dtype,
        warmup: int, iters: int) -> None:
    """Time a training step of every entry, in ``iters`` interleaved rounds,
    after ``warmup`` untimed steps each; fills ``entry.times``."""
    def autocast():
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def make_step(entry):
        def step():
            entry.model.zero_grad(set_to_none=True)
            with autocast():
                out = call(entry)
            out.float().mean().backward()
        return step

    steps = [make_step(e) for e in entries]
    for round_ in range(iters):
        for entry, step in zip(entries, steps):
            entry.times += time_fn(step, device, iters=1,
                                   warmup=warmup if round_ == 0 else 0)
    for entry in entries:
        entry.model.zero_grad(set_to_none=True)


def make_rows(entries: List[Entry], args: argparse.Namespace,
              peak: float) -> Tuple[List[dict], List[str]]:
    """Table rows and their column names."""
    refs = [REFERENCE_NAMES[k] for k in args.references]
    speed = {e.name: args.batch * e.tokens / median(e.times) for e in entries}
    rows = []
    for e in entries:
        seconds = median(e.times)
        flops = args.batch * training_flops(e, args.arch) / seconds
        row = {
            'model': e.name,
            'tokens/clip': e.tokens,
            'params': count_params(e.model),
            's/step': seconds,
            'spread %': 100. * (max(e.times) - min(e.times)) / seconds,
            'clips/s': args.batch / seconds,
            'tokens/s': speed[e.name],
            'GFLOP/s': flops / 1e9,
            '% of matmul peak': 100. * flops / peak,
        }
        for ref in refs:
            key = 'timm' if ref == TIMM else 'mmaction'
            row[f'ratio vs {key}'] = speed[e.name] / speed[ref]
        rows.append(row)
    return rows, list(rows[0])


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Run the benchmark, print the settings and the table.

    Args:
        argv (Sequence[str], optional): Command-line arguments; None reads
            ``sys.argv``.

    Returns:
        list[dict]: The table's rows.
    """
    args = parse_args(argv)
    device = setup(args)
    dtype = DTYPES[args.dtype]
    a = ARCHS[args.arch]
    n = num_patch_tokens(args.frames, args.img_size, args.patch_size,
                         args.tubelet)
    command = ' '.join(sys.argv[1:] if argv is None else argv)
    print(f'Command: python benchmarks/bench_backbone.py {command}')
    print(f'Settings: arch={args.arch} ({a["embed_dims"]} wide, '
          f'{a["num_layers"]} layers, {a["num_heads"]} heads, MLP '
          f'{a["embed_dims"] * MLP_RATIO}), batch={args.batch}, '
          f'frames={args.frames}, img_size={args.img_size}, '
          f'patch={args.patch_size}, tubelet={args.tubelet} -> {n} patch '
          f'tokens, cls_tokens={args.cls_tokens}, '
          f'visible_ratio={args.visible_ratio}, dtype={args.dtype}, '
          f'device={device}, warmup={args.warmup}, iters={args.iters}')
    print(f'Environment: {environment()}')

    entries = build_entries(args, device)
    for e in entries:
        seen = measure_tokens(e)
        if seen != e.tokens:
            raise AssertionError(f'{e.name}: {seen} tokens enter the blocks, '
                                 f'expected {e.tokens}')
    counts = {e.name: count_params(e.model) for e in entries
              if e.name in (OURS, TIMM, MMACTION)}
    check_param_counts(counts)

    peak = matmul_peak(device, dtype, size=args.peak_size)
    run(entries, device, dtype, args.warmup, args.iters)
    rows, columns = make_rows(entries, args, peak)
    print(f'Matmul peak ({args.dtype}, {args.peak_size}^3 torch.mm): '
          f'{peak / 1e9:.1f} GFLOP/s')
    print()
    print(format_table(rows, columns))
    print()
    print('Training step = zero_grad + forward + mean + backward, no '
          'optimizer; median of the timed rounds. Ratios are tokens/s over '
          'the reference\'s tokens/s (> 1: faster); spread is (slowest - '
          'fastest) / median of the rounds. GFLOP/s counts model '
          'FLOPs: matrix products of forward and backward, without the '
          'recomputation of with_cp.')
    print('Parameter counts:')
    for note in param_notes(args, counts):
        print(note)
    return rows


if __name__ == '__main__':
    main()
