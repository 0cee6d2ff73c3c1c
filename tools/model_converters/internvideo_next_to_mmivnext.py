"""Convert a released InternVideo-Next encoder to ``VisionTransformer3D``.

::

    python tools/model_converters/internvideo_next_to_mmivnext.py SRC OUT.safetensors \\
        [--stage2-init INIT.pth] [--keep-training] [--num-heads 12] \\
        [--img-size 224]

``SRC`` is a release file (``revliter/internvideo_next_{base,large}_p14_res224_f16``,
``.safetensors`` or a torch file) or a training checkpoint of the authors' code
(weights under ``module``). Writes ``OUT.safetensors`` and ``OUT.json`` (the
``VisionTransformer3D`` keyword arguments, equal to
``VisionTransformer3D.RELEASED_CFG`` with the size, frames and neutral
training options), loadable strictly with
``VisionTransformer3D(**json, init_cfg=dict(type='Pretrained',
checkpoint=OUT.safetensors))``.

Source layout (``InternVideo-Next/models/InternVideo_next.py``): as
InternVideo2 (see ``internvideo2_to_mmivnext.py``, which does the renaming)
with 4 cls tokens ``cls_token [1, 4, C]``, ``pos_embed [1, 4 + T'H'W', C]``
and the patch-pixel RMSNorm ``patch_embed.norm_before`` (588 =
``1 * 14 * 14 * 3`` weights, our ``patch_embed.pixel_norm``) before the patch
projection and RMSNorm ``patch_embed.norm`` after it.

Training checkpoints (``InternVideo_next_s1.py`` / ``_s2.py``, weights under
``module``) also carry the predictor and the decoders. ``--stage2-init
INIT.pth`` (:func:`stage2_init`) maps them onto our Stage-2 initialisation, in
the format of ``stage1_to_stage2.py`` (``{'state_dict': {backbone.*,
predictor.*}, 'meta'}``, read by ``InternVideoNextStage2(init_checkpoint=...)``
and ``FrozenVideoTeacher(checkpoint=...)``; ``meta['encoder_architecture']``
is the encoder's JSON, so ``export_encoder.py`` needs no ``--config``). Like
the authors' ``main_stage2.py`` (which loads the Stage-1 ``module`` into the
Stage-2 model and deep-copies it as the teacher), the student encoder, its
predictor and the teacher all start from the checkpoint. The predictor
mapping (source -> ``predictor.``), checked against a plain-torch forward of
the authors' ``forward_reconstruction_loss`` in the tests:

=====================================  =====================================
``bert_mask_token [1, 1, C]``          ``mask_token``
``diff_pos_embed [1, n_cls + N, C]``   ``pos_embed`` (``pos_embed_grid`` added,
                                       the encoder's grid)
``to_bert_proj.head.0.{weight,bias}``  ``proj.fc1.`` (``Linear(C, C)``)
``to_bert_proj.head.2.{weight,bias}``  ``proj.fc2.`` (``Linear(C, D)``)
``to_bert_proj.norm.{weight,bias}``    ``proj.norm.`` (``LayerNorm(D)``)
``bert_decoder.layers.i.*``            ``layers.i.*`` (same ModernBERT names:
                                       ``attn_norm``, ``attn.Wqkv``,
                                       ``attn.Wo``, ``mlp_norm``, ``mlp.Wi``,
                                       ``mlp.Wo``)
=====================================  =====================================

The arithmetic is the same: mask token at the masked grid positions, the
position embedding added to all tokens (cls rows included), the projection,
the layers with RoPE positions ``0 .. L-1`` per clip and no final norm. The
predictor config must take as many last ModernBERT layers as the checkpoint
holds (``num_layers``, 5 in the paper; ``meta['predictor']`` records it) from
the same ModernBERT config (ModernBERT-large, as our Stage-2 configs), since
which layers are local / global follows their index in the original model:
strict loading refuses another layer count, but not another config of the
same widths. Position embeddings made for 16 frames are resized to the
Stage-2 grid when loaded (the authors interpolate them at each forward).
Tensors keep the source dtype (e.g. bfloat16 ModernBERT layers); loading
casts them to the model's.

Not carried (:data:`NOT_CARRIED`), each for a reason: ``bert_decoder``'s
``embeddings`` and ``final_norm`` (never run by the authors: the layers take
``to_bert_proj``'s output and feed the heads directly), rotary ``inv_freq``
buffers (recomputed), ``clip_pos_embed`` and the Stage-1 heads
(``clip_decoder``, ``final_clip_decoder``, ``diffloss``, ``mse_projector``:
Stage-1 losses only; ``stage1_to_stage2.py`` drops our Stage-1 heads too) and
the Stage-2 decoders ``selfdist_*``. ``selfdist_decoder`` has the shape of our
``head`` (``LatentPredictionHead``) but the Stage-2 init holds no head: the
authors also start it afresh from a Stage-1 checkpoint (which has none). Any
other source entry is an error naming it, rather than silently dropped.

``--keep-training`` writes every training-only entry unchanged (source
names, ``module`` unwrapped) to ``OUT.training.safetensors``, e.g. to inspect
the parts the Stage-2 init does not carry.
"""
import argparse
import importlib.util
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Mapping, Optional

from safetensors.torch import save

from mmivnext.utils.checkpoint_io import atomic_write_bytes
from mmivnext.utils.encoder_export import ARCHITECTURE_META_KEY


def _load_sibling(name: str):
    """Import ``tools/model_converters/<name>.py`` (not a package)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(
        f'model_converters_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


iv2 = _load_sibling('internvideo2_to_mmivnext')
s1_to_s2 = _load_sibling('stage1_to_stage2')

#: Suffix of the file written by ``--keep-training``.
TRAINING_SUFFIX = '.training.safetensors'
#: The authors' predictor entries (prefix removed) -> ours (``predictor.``
#: removed), besides the ModernBERT layers (:data:`PREDICTOR_LAYER_KEY`).
PREDICTOR_KEYS = OrderedDict([
    ('bert_mask_token', 'mask_token'),
    ('diff_pos_embed', 'pos_embed'),
    ('to_bert_proj.head.0.weight', 'proj.fc1.weight'),
    ('to_bert_proj.head.0.bias', 'proj.fc1.bias'),
    ('to_bert_proj.head.2.weight', 'proj.fc2.weight'),
    ('to_bert_proj.head.2.bias', 'proj.fc2.bias'),
    ('to_bert_proj.norm.weight', 'proj.norm.weight'),
    ('to_bert_proj.norm.bias', 'proj.norm.bias'),
])
#: A parameter of the kept ModernBERT layers; ``layers.i.`` keeps its name.
PREDICTOR_LAYER_KEY = re.compile(
    r'bert_decoder\.(layers\.(\d+)\.(?:attn_norm|attn\.Wqkv|attn\.Wo|mlp_norm'
    r'|mlp\.Wi|mlp\.Wo)\.(?:weight|bias))')
#: Source entries the Stage-2 init leaves out: (key pattern, reason).
NOT_CARRIED = (
    (r'bert_decoder\.embeddings\..+',
     'ModernBERT token embedding and its norm, never run by the authors'),
    (r'bert_decoder\.final_norm\..+',
     "ModernBERT's final norm, never run by the authors"),
    (r'bert_decoder\.layers\.\d+\.attn\.rotary_emb\..+',
     'RoPE frequency buffers, recomputed'),
    (r'clip_pos_embed', 'Stage-1 alignment of intermediate tokens'),
    (r'(clip_decoder|final_clip_decoder|diffloss|mse_projector)\..+',
     'Stage-1 loss heads'),
    (r'selfdist_(decoder|normproj_decoder|proj_clip)\..+',
     'Stage-2 loss heads (the Stage-2 init has no head)'),
)
_NOT_CARRIED = re.compile('|'.join(f'(?:{p})' for p, _ in NOT_CARRIED))


def convert(state_dict: Mapping, prefix: Optional[str] = None,
            img_size: int = 224) -> 'OrderedDict':
    """InternVideo-Next encoder weights in our names.

    Args:
        state_dict (Mapping): Release or training-checkpoint weights
            (module docstring; a ``module.`` key prefix is found).
        prefix (str, optional): Prefix of the encoder keys; None finds it.
            Defaults to None.
        img_size (int): Input size of the position embedding. Defaults to 224.

    Returns:
        OrderedDict: ``VisionTransformer3D`` state dict (``pos_embed_grid``
        included), without the training-only entries.

    Raises:
        ValueError: Not the InternVideo-Next layout (e.g. no
            ``patch_embed.norm_before``: use ``internvideo2_to_mmivnext``).
    """
    if prefix is None:
        prefix = iv2.find_prefix(state_dict)
    for key in ('patch_embed.norm_before.weight', 'patch_embed.norm.weight'):
        if f'{prefix}{key}' not in state_dict:
            raise ValueError(
                f'no {prefix}{key}: not the InternVideo-Next patch embedding '
                f'(an InternVideo2 encoder? use internvideo2_to_mmivnext.py)')
    return iv2.convert(state_dict, prefix, img_size)


def training_parts(state_dict: Mapping,
                   prefix: Optional[str] = None) -> 'OrderedDict':
    """The entries :func:`convert` leaves out (source names), contiguous
    copies ready for safetensors."""
    _, rest = iv2.split(state_dict, prefix)
    return OrderedDict((k, v.detach().clone().contiguous())
                       for k, v in rest.items())


def _listing(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' and {len(keys) - limit} more' if len(keys) > limit
                    else '')


def _check_shape(name: str, value, shape: tuple) -> None:
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f'{name} has shape {tuple(value.shape)}, expected '
                         f'{tuple(shape)}')


def stage2_init(state_dict: Mapping, prefix: Optional[str] = None,
                img_size: int = 224) -> 'OrderedDict':
    """The Stage-2 initialisation (our names) of an authors' training
    checkpoint: student / teacher encoder and predictor.

    Args:
        state_dict (Mapping): The checkpoint's ``module`` weights (a
            ``module.`` key prefix is found), e.g. with ``C = 768``, ``D =
            1024`` (ModernBERT-large), ``n_cls = 4`` and ``N = T'H'W'``:
            ``bert_mask_token [1, 1, C]``, ``diff_pos_embed [1, n_cls + N,
            C]``, ``to_bert_proj.head.0.weight [C, C]``,
            ``to_bert_proj.head.2.weight [D, C]``, ``to_bert_proj.norm.weight
            [D]``, ``bert_decoder.layers.{0..k-1}.attn.Wqkv.weight [3D, D]``...
        prefix (str, optional): Prefix of the keys; None finds it. Defaults
            to None.
        img_size (int): Input size of the position embeddings. Defaults to
            224.

    Returns:
        OrderedDict: ``backbone.*`` (:func:`convert`) then ``predictor.*``
        (module docstring table, plus ``predictor.pos_embed_grid``, the
        encoder's grid), contiguous tensors in the source dtype.

    Raises:
        ValueError: Not an InternVideo-Next encoder, a predictor entry missing
            or misshapen, or source entries that are neither mapped nor known
            to be left out (:data:`NOT_CARRIED`); the message names them.
    """
    if prefix is None:
        prefix = iv2.find_prefix(state_dict)
    backbone = convert(state_dict, prefix, img_size)
    _, rest = iv2.split(state_dict, prefix)
    predictor, layers, unknown = OrderedDict(), OrderedDict(), []
    for key, value in rest.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        match = PREDICTOR_LAYER_KEY.fullmatch(name) if name else None
        if name in PREDICTOR_KEYS:
            predictor[PREDICTOR_KEYS[name]] = value
        elif match:
            layers.setdefault(int(match.group(2)), []).append(
                (match.group(1), value))
        elif name is None or not _NOT_CARRIED.fullmatch(name):
            unknown.append(key)
    if unknown:
        raise ValueError(
            f'{len(unknown)} entries are neither encoder nor predictor weights '
            f'nor known to be left out of the Stage-2 init: '
            f'{_listing(unknown)}')
    missing = [f'{prefix}{k}' for k, v in PREDICTOR_KEYS.items()
               if v not in predictor]
    if not layers:
        missing.append(f'{prefix}bert_decoder.layers.*')
    if missing:
        raise ValueError(f'no {", ".join(missing)}: not a training checkpoint '
                         f'with the ModernBERT predictor (a release file '
                         f'holds the encoder only)')
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f'{prefix}bert_decoder.layers are numbered '
                         f'{sorted(layers)}, expected 0..{len(layers) - 1}')

    C = backbone['cls_token'].shape[-1]
    D = predictor['proj.fc2.weight'].shape[0]
    src = {v: f'{prefix}{k}' for k, v in PREDICTOR_KEYS.items()}
    for name, shape in (('mask_token', (1, 1, C)),
                        ('pos_embed', backbone['pos_embed'].shape),
                        ('proj.fc1.weight', (C, C)), ('proj.fc1.bias', (C, )),
                        ('proj.fc2.weight', (D, C)), ('proj.fc2.bias', (D, )),
                        ('proj.norm.weight', (D, )),
                        ('proj.norm.bias', (D, ))):
        _check_shape(src[name], predictor[name], shape)
    for i in sorted(layers):
        for name, value in layers[i]:
            if name.endswith('attn.Wqkv.weight'):
                _check_shape(f'{prefix}bert_decoder.{name}', value, (3 * D, D))
            predictor[name] = value
    predictor['pos_embed_grid'] = backbone['pos_embed_grid'].clone()

    out = OrderedDict(('backbone.' + k, v) for k, v in backbone.items())
    out.update(('predictor.' + k, v.contiguous()) for k, v in predictor.items())
    return out


def predictor_meta(init: Mapping) -> dict:
    """The ``ModernBertPredictor`` arguments the weights of
    :func:`stage2_init` fix: ``in_dims``, ``embed_dims`` (the ModernBERT
    width), ``grid_size``, ``num_cls_tokens`` and ``num_layers`` (how many
    last ModernBERT layers)."""
    num_layers = 1 + max(int(k.split('.')[2]) for k in init
                         if k.startswith('predictor.layers.'))
    return dict(
        in_dims=init['predictor.mask_token'].shape[-1],
        embed_dims=init['predictor.proj.fc2.weight'].shape[0],
        grid_size=[int(g) for g in init['predictor.pos_embed_grid']],
        num_cls_tokens=init['backbone.cls_token'].shape[1],
        num_layers=num_layers)


def write_stage2_init(init: Mapping, dst: str, meta: dict) -> str:
    """Save ``init`` in the ``stage1_to_stage2.py`` format ``{'state_dict',
    'meta'}`` (its :func:`convert` keeps the ``backbone.`` / ``predictor.``
    entries and checks the encoder is there); returns ``dst``."""
    return s1_to_s2.write(init, dst, meta)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an InternVideo-Next encoder (release or training '
        'checkpoint) to VisionTransformer3D safetensors plus an architecture '
        'JSON.')
    iv2.add_common_args(parser)
    parser.add_argument('--keep-training', action='store_true',
                        help='also write the predictor, decoders and other '
                        f'training-only weights to OUT{TRAINING_SUFFIX} '
                        '(source names)')
    parser.add_argument('--stage2-init', metavar='INIT.pth',
                        help='also write the Stage-2 initialisation (student '
                        'and teacher encoder, predictor) of a training '
                        'checkpoint, in the stage1_to_stage2.py format')
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    iv2.check_input_output(args.src, args.out)
    try:
        source = iv2.load_state_dict(args.src)
        prefix = iv2.find_prefix(source) if args.prefix is None \
            else args.prefix
        state_dict = convert(source, prefix, args.img_size)
        arch = iv2.architecture(state_dict, args.num_heads,
                                args.projector_heads, args.img_size)
        init = None if args.stage2_init is None else \
            stage2_init(source, prefix, args.img_size)
        json_path = iv2.write(state_dict, arch, args.out, args.src)
    except (ValueError, KeyError) as err:
        raise iv2.exit_error(args.src, err) from err
    _, rest = iv2.split(source, prefix)
    outputs = [args.out, json_path]
    if args.keep_training and rest:
        training_path = args.out[:-len('.safetensors')] + TRAINING_SUFFIX
        atomic_write_bytes(
            save(dict(training_parts(source, prefix)),
                 metadata=dict(format='pt', source=args.src)), training_path)
        outputs.append(training_path)
    verb = 'kept in ' + outputs[-1] if args.keep_training and rest \
        else 'left out'
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}; training-only weights {verb}: '
          f'{iv2.summarize(rest)}')
    if init is not None:
        pred = predictor_meta(init)
        meta = {'converter': 'internvideo_next_to_mmivnext',
                'source': args.src, ARCHITECTURE_META_KEY: arch,
                'predictor': pred}
        outputs.append(write_stage2_init(init, args.stage2_init, meta))
        print(f'{args.stage2_init}: Stage-2 init, {len(state_dict)} backbone '
              f'+ {len(init) - len(state_dict)} predictor weights '
              f'(ModernBertPredictor num_layers={pred["num_layers"]}, width '
              f'{pred["embed_dims"]})')
    return tuple(outputs)


if __name__ == '__main__':
    main()
