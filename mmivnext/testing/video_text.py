"""Captions, questions and tiny models for the multimodal projects.

The demo videos (:mod:`.demo_videos`) show one shape moving in one direction;
their class names say both. From them this module writes the annotation files
of ``projects/lit_retrieval`` and ``projects/video_llm_connector`` (formats in
those projects' READMEs), and the random text models those projects load with
``from_pretrained`` in the tests: an open_clip text tower of MobileCLIP-B's
kind and a Qwen2 causal LM with a byte-level BPE tokenizer, both written to
local folders (nothing is downloaded). :func:`make_video_text_demo` writes
all of it, with a tiny frozen encoder, where the projects' demo configs
read it (:data:`DEMO_LAYOUT`).

Layout written by :func:`make_video_text_annotations` (``root`` is the demo
set's folder, which the video paths are relative to)::

    <out_dir>/
      captions_train.json   # [{"video", "caption"}], one per train video
      retrieval_val.json    # [{"video", "captions": [2 captions]}]
      class_prompts.txt     # line i: the caption of class i
      instructions_train.json  # [{"video", "prompt", "response"}], 3 a video
      mcq_val.json          # [{"video", "question", "candidates", "answer",
                            #   "task"}], a shape and a direction question
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

from .demo_videos import DEMO_CLASSES, DEMO_DIRECTIONS, DEMO_SHAPES

#: Question of the MCQs (and instructions) about the shape, and its task name.
SHAPE_QUESTION = 'Which shape is in the video?'
#: Question about the direction of motion.
DIRECTION_QUESTION = 'Which way does the shape move?'
#: Instruction that asks for a caption.
CAPTION_PROMPT = 'Describe the video.'


def class_parts(label: int) -> Tuple[str, str]:
    """``(shape, direction)`` of demo class ``label``."""
    if not 0 <= label < len(DEMO_CLASSES):
        raise ValueError(f'label must be in [0, {len(DEMO_CLASSES)}), got '
                         f'{label}')
    return (DEMO_SHAPES[label // len(DEMO_DIRECTIONS)],
            DEMO_DIRECTIONS[label % len(DEMO_DIRECTIONS)])


def caption_for_label(label: int, variant: int = 0) -> str:
    """A caption of demo class ``label``: ``'a circle moving left'``
    (``variant=0``) or ``'the circle goes left'`` (``variant=1``)."""
    shape, direction = class_parts(label)
    if variant == 0:
        return f'a {shape} moving {direction}'
    if variant == 1:
        return f'the {shape} goes {direction}'
    raise ValueError(f'variant must be 0 or 1, got {variant}')


def _read_list(list_file: str) -> List[Tuple[str, int]]:
    """``(relative path, label)`` of each line of a demo list file."""
    items = []
    with open(list_file) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f'{list_file}:{number}: expected "<video> '
                                 f'<label>", got {line!r}')
            items.append((parts[0], int(parts[1])))
    return items


def _write_json(path: str, data) -> str:
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)
    return path


def make_video_text_annotations(demo_paths: Dict[str, str],
                                out_dir: str) -> Dict[str, str]:
    """Write the projects' annotation files for a demo video set.

    Args:
        demo_paths (dict): What :func:`~mmivnext.testing.make_demo_videos`
            returns (``root``, ``train_list``, ``val_list``).
        out_dir (str): Folder to write into (module docstring); created.

    Returns:
        dict: ``root`` (the video folder) and the path of each file, keyed
        ``captions_train``, ``retrieval_val``, ``class_prompts``,
        ``instructions_train`` and ``mcq_val``.
    """
    os.makedirs(out_dir, exist_ok=True)
    train = _read_list(demo_paths['train_list'])
    val = _read_list(demo_paths['val_list'])
    paths = dict(root=demo_paths['root'])
    paths['captions_train'] = _write_json(
        osp.join(out_dir, 'captions_train.json'),
        [dict(video=video, caption=caption_for_label(label))
         for video, label in train])
    paths['retrieval_val'] = _write_json(
        osp.join(out_dir, 'retrieval_val.json'),
        [dict(video=video, captions=[caption_for_label(label, v)
                                     for v in (0, 1)])
         for video, label in val])
    paths['class_prompts'] = osp.join(out_dir, 'class_prompts.txt')
    with open(paths['class_prompts'], 'w') as f:
        f.write(''.join(caption_for_label(label) + '\n'
                        for label in range(len(DEMO_CLASSES))))
    instructions = []
    for video, label in train:
        shape, direction = class_parts(label)
        instructions += [
            dict(video=video, prompt=CAPTION_PROMPT,
                 response=caption_for_label(label)),
            dict(video=video, prompt=SHAPE_QUESTION, response=shape),
            dict(video=video, prompt=DIRECTION_QUESTION, response=direction),
        ]
    paths['instructions_train'] = _write_json(
        osp.join(out_dir, 'instructions_train.json'), instructions)
    mcqs = []
    for video, label in val:
        shape, direction = class_parts(label)
        mcqs += [
            dict(video=video, question=SHAPE_QUESTION,
                 candidates=list(DEMO_SHAPES), answer=shape, task='shape'),
            dict(video=video, question=DIRECTION_QUESTION,
                 candidates=list(DEMO_DIRECTIONS),
                 answer=DEMO_DIRECTIONS.index(direction), task='direction'),
        ]
    paths['mcq_val'] = _write_json(osp.join(out_dir, 'mcq_val.json'), mcqs)
    return paths


def demo_texts() -> List[str]:
    """Every text the annotation files hold (captions, questions, answers):
    the corpus of :func:`save_tiny_qwen2`'s tokenizer."""
    texts = [CAPTION_PROMPT, SHAPE_QUESTION, DIRECTION_QUESTION,
             *DEMO_SHAPES, *DEMO_DIRECTIONS]
    for label in range(len(DEMO_CLASSES)):
        texts += [caption_for_label(label, v) for v in (0, 1)]
    return texts


def save_tiny_open_clip_text(out_dir: str,
                             width: int = 32,
                             layers: int = 2,
                             heads: int = 2,
                             embed_dim: int = 32,
                             context_length: int = 16,
                             seed: int = 0) -> str:
    """Write a random open_clip model with a MobileCLIP-style text tower.

    The folder is what ``open_clip.create_model('local-dir:<out_dir>')``
    loads: ``open_clip_config.json`` (``model_cfg`` with ``custom_text``, as
    open_clip's ``MobileCLIP-B.json``; a tiny plain ViT stands in for the
    image tower, which the LiT project drops) and
    ``open_clip_model.safetensors``. The text tower keeps open_clip's BPE
    vocabulary (49408 tokens, shipped with the package), so the real
    tokenizer runs; MobileCLIP-B is 512 wide, 12 layers, 8 heads, context 77.

    Returns:
        str: ``out_dir``.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file
    model_cfg = dict(
        embed_dim=embed_dim,
        vision_cfg=dict(image_size=32, patch_size=16, width=32, layers=1,
                        head_width=16),
        text_cfg=dict(context_length=context_length, vocab_size=49408,
                      width=width, heads=heads, layers=layers),
        custom_text=True)
    os.makedirs(out_dir, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = open_clip.CustomTextCLIP(
            **{k: v for k, v in model_cfg.items() if k != 'custom_text'})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              osp.join(out_dir, 'open_clip_model.safetensors'))
    _write_json(osp.join(out_dir, 'open_clip_config.json'),
                dict(model_cfg=model_cfg, preprocess_cfg={}))
    return out_dir


def save_tiny_qwen2(out_dir: str,
                    hidden_size: int = 32,
                    num_layers: int = 2,
                    num_heads: int = 4,
                    num_kv_heads: int = 2,
                    texts: Sequence[str] = (),
                    seed: int = 0) -> str:
    """Write a random ``Qwen2ForCausalLM`` and a tokenizer to a folder.

    The tokenizer is a byte-level BPE trained (with ``tokenizers``) on
    ``texts`` (default :func:`demo_texts`), with Qwen2's special tokens
    ``<|endoftext|>`` (pad and eos), ``<|im_start|>`` and ``<|im_end|>``; any
    text tokenizes, the demo's words into few tokens.

    Returns:
        str: ``out_dir``, loadable by ``AutoModelForCausalLM`` /
        ``AutoTokenizer.from_pretrained``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers import trainers
    from transformers import (PreTrainedTokenizerFast, Qwen2Config,
                              Qwen2ForCausalLM)
    specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        list(texts) or demo_texts(),
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token='<|endoftext|>',
        pad_token='<|endoftext|>',
        additional_special_tokens=specials[1:])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size,
        intermediate_size=2 * hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
        max_position_embeddings=512, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


#: Files of :func:`make_video_text_demo`, relative to its ``root`` (the
#: paths the projects' demo configs read).
DEMO_LAYOUT = dict(
    videos='data/demo_videos_8x32',
    annotations='data/demo_video_text',
    encoder='work_dirs/demo_video_text/encoder_vit-tiny-p16.safetensors',
    open_clip='work_dirs/demo_video_text/open_clip_text_tiny',
    qwen2='work_dirs/demo_video_text/qwen2_tiny')

#: The tiny frozen video encoder of the demo configs (8 frames of 32 px, 2 x 2
#: patches of 16 px, width 32, one block, a projector to 32).
DEMO_ENCODER = dict(
    type='mmivnext.VisionTransformer3D',
    arch=dict(embed_dims=32, num_layers=1, num_heads=2,
              feedforward_channels=64),
    img_size=32, num_frames=8, patch_size=16, num_cls_tokens=1,
    projector_cfg=dict(num_heads=2, out_dims=32))


def make_video_text_demo(root: str = '.', seed: int = 0) -> Dict[str, str]:
    """Write everything the projects' demo configs read, under ``root``.

    That is :data:`DEMO_LAYOUT`: 24 demo videos (12 train, 12 val; 8 frames
    of 32 px), their annotations (:func:`make_video_text_annotations`), a
    random :data:`DEMO_ENCODER` (safetensors), a tiny open_clip text model
    and a tiny Qwen2. Run from the repository root, the demo configs then
    train and test as they are.

    Returns:
        dict: :data:`DEMO_LAYOUT`'s keys as paths under ``root``, plus the
        annotation paths of :func:`make_video_text_annotations`.
    """
    import torch
    from safetensors.torch import save_file

    from mmivnext.registry import MODELS
    from .demo_videos import make_demo_videos
    paths = {k: osp.join(root, v) for k, v in DEMO_LAYOUT.items()}
    videos = make_demo_videos(paths['videos'], num_train=12, num_val=12,
                              num_frames=8, size=32, seed=seed)
    paths.update(make_video_text_annotations(videos, paths['annotations']))
    os.makedirs(osp.dirname(paths['encoder']), exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = MODELS.build(dict(DEMO_ENCODER))
        encoder.init_weights()
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()},
              paths['encoder'])
    save_tiny_open_clip_text(paths['open_clip'], seed=seed)
    save_tiny_qwen2(paths['qwen2'], seed=seed)
    return paths
