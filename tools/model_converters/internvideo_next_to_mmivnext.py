"""Convert a released InternVideo-Next encoder to ``VisionTransformer3D``.

::

    python tools/model_converters/internvideo_next_to_mmivnext.py SRC OUT.safetensors \\
        [--keep-training] [--num-heads 12] [--img-size 224]

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

Training checkpoints (``InternVideo_next_s1.py`` / ``_s2.py``) also carry
``clip_pos_embed``, ``diff_pos_embed``, ``bert_mask_token``, the decoders
(``to_bert_proj``, ``selfdist_*``) and the ModernBERT predictor
(``bert_decoder.*``). They are left out of ``OUT.safetensors``; with
``--keep-training`` they are written unchanged (source names, ``module``
unwrapped) to ``OUT.training.safetensors``. They are **not** mapped to our
Stage-2 predictor layout (``ModernBertPredictor``): that mapping is not
implemented.
"""
import argparse
import importlib.util
import os.path as osp
from collections import OrderedDict
from typing import Mapping, Optional

from safetensors.torch import save_file


def _load_sibling(name: str):
    """Import ``tools/model_converters/<name>.py`` (not a package)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(
        f'model_converters_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


iv2 = _load_sibling('internvideo2_to_mmivnext')

#: Suffix of the file written by ``--keep-training``.
TRAINING_SUFFIX = '.training.safetensors'


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
    return parser.parse_args(argv)


def main(argv=None) -> tuple:
    args = parse_args(argv)
    if not args.out.endswith('.safetensors'):
        raise SystemExit(f'error: the output must end with .safetensors, got '
                         f'{args.out}')
    if not osp.isfile(args.src):
        raise SystemExit(f'error: {args.src}: no such file')
    try:
        source = iv2.load_state_dict(args.src)
        prefix = iv2.find_prefix(source) if args.prefix is None \
            else args.prefix
        state_dict = convert(source, prefix, args.img_size)
        arch = iv2.architecture(state_dict, args.num_heads,
                                args.projector_heads, args.img_size)
        json_path = iv2.write(state_dict, arch, args.out, args.src)
    except (ValueError, KeyError) as err:
        raise SystemExit(f'error: {args.src}: {err}') from err
    _, rest = iv2.split(source, prefix)
    outputs = [args.out, json_path]
    if args.keep_training and rest:
        training_path = args.out[:-len('.safetensors')] + TRAINING_SUFFIX
        save_file(dict(training_parts(source, prefix)), training_path,
                  metadata=dict(format='pt', source=args.src))
        outputs.append(training_path)
    verb = 'kept in ' + outputs[-1] if len(outputs) == 3 else 'left out'
    print(f'{args.out}: {len(state_dict)} encoder weights; architecture in '
          f'{json_path}; training-only weights {verb}: '
          f'{iv2.summarize(rest)}')
    return tuple(outputs)


if __name__ == '__main__':
    main()
