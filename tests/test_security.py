"""No checkpoint content is ever executed, and every load error names the file.

Users load checkpoints from strangers (issue 14). Every load path of the
tools and models is fed the payloads planted by :func:`plant` (the fixtures
and helpers at the top serve every section):

* ``'pickle'``: a torch file whose ``meta`` holds a :class:`TouchPayload`,
  whose ``__reduce__`` is ``pathlib.Path.touch(MARKER)``: plain Python, no
  shell. ``torch.load(weights_only=False)`` and ``torch.load`` under
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` write the marker (checked by hand,
  once, in a throwaway script with torch 2.13; ``os.system`` payloads are
  refused by weights-only loading just the same);
* ``'pickle.safetensors'``: the same file named ``.safetensors``;
* ``'cfg'``: a valid checkpoint whose ``meta['cfg']`` and ``meta['config']``
  are Python text that writes the marker when executed (as MMEngine's
  ``Config.fromstring`` does; ``export_encoder.py`` used to).

The rest of each planted file is what the path expects, so a loader that
unpickled code, or ran config text, would write the marker. Every test runs
with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (:func:`no_weights_only_default`),
torch's switch that turns ``weights_only`` off wherever it is not passed
explicitly, so the tests prove the loads weights-only whatever torch's
default. Each asserts that no marker was written and that the error names
the file (:func:`assert_names_file`).

Sections: payloads; tools (CLIs run in-process); models; MMEngine's
loaders; the training runner (``--resume FILE``, auto-resume,
``tools/test.py``'s ``load_from``).
"""
import functools
import json
import os.path as osp
import pathlib

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmivnext.models.backbones import VisionTransformer3D
from mmivnext.models.teachers import FrozenVideoTeacher
from mmivnext.registry import MODELS
from mmivnext.testing.internvideo_reference import (HEADS, PROJ_HEADS, SIZE,
                                                    fake_training_module)
from mmivnext.testing.zoo_layouts import TINY, checkpoint_of
from mmivnext.utils.checkpoint_io import (CheckpointLoadError,
                                          load_checkpoint_file)
from mmivnext.utils.encoder_export import encoder_architecture
from runner_helpers import RECOGNIZER, tiny_recognizer_cfg, train
from script_helpers import load_converter, load_script

# ------------------------------------------------------------- payloads ----
#: The kinds of payload of :func:`plant`; the first two are pickles with code.
PICKLES = ('pickle', 'pickle.safetensors')
KINDS = PICKLES + ('cfg', )


class TouchPayload:
    """Unpickled without ``weights_only``, this calls
    ``pathlib.Path.touch(marker)``."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker), )


def cfg_text(marker: pathlib.Path) -> str:
    """Config text that writes ``marker`` when executed, and is otherwise a
    valid config of the tiny encoder."""
    return (f'_ = __import__("pathlib").Path({str(marker)!r}).touch()\n'
            f'model = dict(backbone=dict(type="VisionTransformer3D", '
            f'arch={TINY_ARCH!r}, img_size=28, num_frames=4))\n')


def plant(kind: str, content: dict, folder: pathlib.Path, stem: str,
          marker: pathlib.Path) -> str:
    """Save ``content`` with the payload ``kind`` (one of :data:`KINDS`)
    in ``folder``; returns the file."""
    meta = dict(content.get('meta') or {})
    if kind == 'cfg':
        meta.update(cfg=cfg_text(marker), config=cfg_text(marker))
    else:
        meta.update(payload=TouchPayload(marker))
    suffix = '.safetensors' if kind == 'pickle.safetensors' else '.pth'
    path = str(folder / f'{stem}{suffix}')
    torch.save(dict(content, meta=meta), path)
    return path


@pytest.fixture
def marker(tmp_path):
    """The file a payload writes when run; checked absent after the test."""
    path = tmp_path / 'MARKER'
    yield path
    assert not path.exists(), 'a checkpoint payload was executed'


@pytest.fixture(autouse=True)
def no_weights_only_default(monkeypatch):
    """Turn torch's weights-only default off, as an environment may."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def assert_names_file(message: str, path: str) -> None:
    """The message names ``path``, in one line."""
    assert path in message, message
    assert '\n' not in message.strip(), message


def assert_refused_or_loaded(kind: str, load, src: str, tmp_path) -> None:
    """``load(src, tmp_path)`` refuses a pickle payload with an error naming
    ``src``, and loads a file whose only payload is config text."""
    if kind in PICKLES:
        with pytest.raises(CheckpointLoadError) as exc:
            load(src, tmp_path)
        assert_names_file(str(exc.value), src)
    else:
        load(src, tmp_path)


def assert_cli_refuses(run, path: str) -> None:
    """``run()`` exits with one line ``error: ...`` naming ``path``."""
    with pytest.raises(SystemExit) as exc:
        run()
    message = str(exc.value)
    assert message.startswith('error: '), message
    assert_names_file(message, path)


def assert_no_config_text(folder: pathlib.Path) -> None:
    """No torch file under ``folder`` carries config text."""
    for path in folder.rglob('*.pth'):
        meta = torch.load(path, weights_only=True).get('meta', {})
        assert not {'cfg', 'config'} & set(meta), path


# ---------------------------------------------- tiny weights and models ----
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2,
                 feedforward_channels=64)
#: The tiny encoder (4 cls tokens, 4 frames of 28 px: a (4, 2, 2) grid).
ENCODER = dict(arch=TINY_ARCH, img_size=28, num_frames=4)
BACKBONE = dict(type='VisionTransformer3D', **ENCODER)


@functools.lru_cache(maxsize=None)
def encoder_weights() -> dict:
    torch.manual_seed(0)
    encoder = VisionTransformer3D(**ENCODER)
    encoder.init_weights()
    return dict(encoder.state_dict())


def runner_checkpoint(with_architecture: bool = True) -> dict:
    """A Stage-1-like runner checkpoint of the tiny encoder."""
    state_dict = {f'backbone.{k}': v for k, v in encoder_weights().items()}
    state_dict['predictor.layers.0.weight'] = torch.ones(2, 2)
    meta = dict(epoch=1, iter=3)
    if with_architecture:
        meta['encoder_architecture'] = encoder_architecture(BACKBONE)
    return dict(state_dict=state_dict, meta=meta)


def build(cfg: dict):
    with DefaultScope.overwrite_default_scope('mmivnext'):
        return MODELS.build(cfg)


def write_config(folder: pathlib.Path, model: dict = None) -> str:
    """A config file of ``model``; by default one whose ``model.backbone``
    is the tiny encoder."""
    path = str(folder / 'tiny_config.py')
    if model is None:
        model = dict(type='InternVideoNextStage1', backbone=BACKBONE)
    Config(dict(model=model, default_scope='mmivnext')).dump(path)
    return path


# ---------------------------------------------------------------- tools ----
ZOO_OPTIONS = ['--img-size', '28', '--num-heads', '4', '--projector-heads',
               '4']


def zoo_source(source: str) -> dict:
    """A tiny released checkpoint of a converter's source, with room for a
    ``meta`` entry beside the weights."""
    name = next(n for n, (s, _) in TINY.items() if s == source)
    checkpoint = checkpoint_of(source, TINY[name][1])
    if source in ('internvideo2', 'internvideo_next'):
        return dict(module=checkpoint)  # a flat release: unwrapped
    return checkpoint


def converter_case(source: str, options: list):
    def content(tmp_path):
        return zoo_source(source)

    def run(src, tmp_path):
        load_converter(f'{source}_to_mmivnext').main(
            [src, str(tmp_path / 'out' / 'enc.safetensors'), *options])
    return content, run


def stage2_init_case():
    def content(tmp_path):
        return dict(module=fake_training_module())

    def run(src, tmp_path):
        load_converter('internvideo_next_to_mmivnext').main(
            [src, str(tmp_path / 'out' / 'enc.safetensors'), '--stage2-init',
             str(tmp_path / 'out' / 'init.pth'), '--num-heads', str(HEADS),
             '--projector-heads', str(PROJ_HEADS), '--img-size', str(SIZE)])
    return content, run


def script_case(script: str, with_architecture: bool, args):
    """A tool run on a runner checkpoint: ``args(src, tmp_path)`` is its
    argument list."""
    def content(tmp_path):
        return runner_checkpoint(with_architecture)

    def run(src, tmp_path):
        load_script(script).main(args(src, tmp_path))
    return content, run


def extract_args(src, tmp_path):
    videos = tmp_path / 'videos'
    videos.mkdir(exist_ok=True)
    (videos / 'clip.mp4').write_bytes(b'not decoded before the encoder loads')
    return [str(videos), str(tmp_path / 'out' / 'features'), '--config',
            write_config(tmp_path), '--checkpoint', src, '--pooled',
            '--device', 'cpu', '--num-workers', '0', '--on-error', 'skip']


def extract_encoder_case():
    """``--encoder X.safetensors`` (with ``X.json``): safetensors only."""
    def content(tmp_path):
        return encoder_weights()

    def run(src, tmp_path):
        with open(src[:-len('.safetensors')] + '.json', 'w') as f:
            json.dump(encoder_architecture(BACKBONE), f)
        load_script('tools/extract_features.py').main(
            extract_args(src, tmp_path)[:2] + ['--encoder', src, '--pooled',
                                              '--device', 'cpu'])
    return content, run


def visualize_args(src, tmp_path):
    """Several videos and every output: the checkpoint is refused before
    any video is looked at."""
    return [write_config(tmp_path, BACKBONE), src, 'video.mp4', 'other.mp4',
            '--out', str(tmp_path / 'out' / 'recon.png'), '--draw', '2',
            '--batch-size', '1', '--metrics-out',
            str(tmp_path / 'out' / 'psnr.json')]


CONVERTERS = 'tools/model_converters/'
#: id -> (content(tmp_path), run(src, tmp_path), payload kinds, whether
#: the tool refuses the 'cfg' payload).
TOOL_CASES = {
    'internvideo_next_to_mmivnext': (
        *converter_case('internvideo_next', ZOO_OPTIONS), KINDS, False),
    'internvideo_next_to_mmivnext --stage2-init': (
        *stage2_init_case(), KINDS, False),
    'internvideo2_to_mmivnext': (
        *converter_case('internvideo2', ZOO_OPTIONS), KINDS, False),
    'videomae_v2_to_mmivnext': (
        *converter_case('videomae_v2', ['--num-heads', '4']), KINDS, False),
    'vjepa2_to_mmivnext': (
        *converter_case('vjepa2', ['--num-heads', '4']), KINDS, False),
    'stage1_to_stage2': (*script_case(
        CONVERTERS + 'stage1_to_stage2.py', True,
        lambda src, tmp: [src, str(tmp / 'out' / 'init.pth')]), KINDS, False),
    # Without --config and without meta['encoder_architecture'], config text
    # is the only architecture the file has: refused, never run.
    'export_encoder': (*script_case(
        CONVERTERS + 'export_encoder.py', False,
        lambda src, tmp: [src, str(tmp / 'out' / 'enc.safetensors')]),
        KINDS, True),
    'export_encoder --config': (*script_case(
        CONVERTERS + 'export_encoder.py', False,
        lambda src, tmp: [src, str(tmp / 'out' / 'enc.safetensors'),
                          '--config', write_config(tmp)]), KINDS, False),
    'publish_model': (*script_case(
        CONVERTERS + 'publish_model.py', True,
        lambda src, tmp: [src, str(tmp / 'out' / 'published.pth')]),
        KINDS, False),
    'extract_features --config --checkpoint': (*script_case(
        'tools/extract_features.py', False, extract_args), KINDS, False),
    'extract_features --encoder': (
        *extract_encoder_case(), ('pickle.safetensors', ), False),
    # The tool builds the config's model, then loads the checkpoint into it:
    # a tiny encoder is enough to reach the load (and, for the 'cfg' payload,
    # too little for the rest: MMEngine's load_checkpoint is tested below).
    'visualize_reconstruction': (*script_case(
        'tools/analysis/visualize_reconstruction.py', True, visualize_args),
        PICKLES, False),
}
TOOL_PARAMS = [pytest.param(case, kind, id=f'{case}-{kind}')
               for case, (_, _, kinds, _) in TOOL_CASES.items()
               for kind in kinds]


@pytest.mark.parametrize('case,kind', TOOL_PARAMS)
def test_tools_never_run_checkpoint_content(case, kind, marker, tmp_path):
    content, run, _, refuses_cfg = TOOL_CASES[case]
    src = plant(kind, content(tmp_path), tmp_path, 'src', marker)
    if kind in PICKLES or refuses_cfg:
        assert_cli_refuses(lambda: run(src, tmp_path), src)
    else:
        run(src, tmp_path)
        assert_no_config_text(tmp_path / 'out')


def test_export_message_without_architecture(marker, tmp_path):
    """Without ``--config`` and without the data-only record, export says
    what to pass."""
    src = plant('cfg', runner_checkpoint(False), tmp_path, 'src', marker)
    out = str(tmp_path / 'enc.safetensors')
    with pytest.raises(SystemExit, match=r"records no encoder architecture "
                       r"\(meta\['encoder_architecture'\]\); pass the "
                       r'training config: --config CONFIG'):
        load_script(CONVERTERS + 'export_encoder.py').main([src, out])
    assert not osp.exists(out)


# --------------------------------------------------------------- models ----
def stage1_file(tmp_path) -> str:
    """A clean Stage-1 checkpoint (the teacher of the Stage-2 model)."""
    path = str(tmp_path / 'clean_stage1.pth')
    torch.save(runner_checkpoint(), path)
    return path


def load_pretrained(src, tmp_path):
    encoder = VisionTransformer3D(**ENCODER, init_cfg=dict(
        type='Pretrained', checkpoint=src, prefix='backbone.'))
    encoder.init_weights()


def load_teacher(src, tmp_path):
    FrozenVideoTeacher(dict(ENCODER), src)


def load_stage2_init(src, tmp_path):
    model = build(dict(
        type='InternVideoNextStage2', backbone=BACKBONE,
        teacher=dict(type='FrozenVideoTeacher', backbone=ENCODER,
                     checkpoint=stage1_file(tmp_path)),
        masker=dict(type='MultiBlockMasker'),
        predictor=dict(type='VisionTransformerPredictor', in_dims=32,
                       grid_size=(4, 2, 2), embed_dims=32, num_layers=1,
                       num_heads=2),
        head=dict(type='LatentPredictionHead', in_dims=32, out_dims=32),
        init_checkpoint=src, load_predictor=False))
    model.init_weights()


PREDICTOR = dict(type='VisionTransformerPredictor', in_dims=32,
                 grid_size=(4, 2, 2), embed_dims=32, num_layers=1,
                 num_heads=2)


def predictor_checkpoint() -> dict:
    torch.manual_seed(0)
    predictor = build(dict(PREDICTOR))
    return dict(state_dict={f'predictor.{k}': v
                            for k, v in predictor.state_dict().items()})


def load_anticipation_predictor(src, tmp_path):
    model = build(dict(
        type='ActionAnticipationProbe', backbone=BACKBONE,
        predictor=dict(PREDICTOR), predictor_checkpoint=src,
        head=dict(type='AttentiveVerbNounActionHead', in_channels=32,
                  num_verbs=4, num_nouns=3, num_actions=12, num_heads=2,
                  num_self_attn_blocks=1)))
    model.init_weights()


#: id -> (content(), load(src, tmp_path)).
MODEL_CASES = {
    'VisionTransformer3D init_cfg Pretrained': (runner_checkpoint,
                                                load_pretrained),
    'FrozenVideoTeacher': (runner_checkpoint, load_teacher),
    'InternVideoNextStage2 init_checkpoint': (runner_checkpoint,
                                              load_stage2_init),
    'ActionAnticipationProbe predictor_checkpoint': (
        predictor_checkpoint, load_anticipation_predictor),
}


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('case', MODEL_CASES)
def test_models_never_run_checkpoint_content(case, kind, marker, tmp_path):
    content, load = MODEL_CASES[case]
    src = plant(kind, content(), tmp_path, 'src', marker)
    assert_refused_or_loaded(kind, load, src, tmp_path)


def test_stage2_init_errors_name_the_file(tmp_path):
    """Weights that do not fit the Stage-2 student: the error names the
    file, not only the keys."""
    checkpoint = runner_checkpoint()
    del checkpoint['state_dict']['backbone.blocks.1.mlp.fc2.bias']
    src = str(tmp_path / 'short.pth')
    torch.save(checkpoint, src)
    with pytest.raises(RuntimeError, match=r'(?s)short\.pth: its backbone\.\* '
                       r'weights do not fit the Stage-2 backbone:.*'
                       r'blocks\.1\.mlp\.fc2\.bias'):
        load_stage2_init(src, tmp_path)


# ---------------------------------------------------- MMEngine's loaders ----
def mmengine_private_load(src, tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    _load_checkpoint(src, map_location='cpu')


def mmengine_load(src, tmp_path):
    from mmengine.runner import load_checkpoint
    load_checkpoint(VisionTransformer3D(**ENCODER), src, map_location='cpu',
                    strict=True)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('load', [mmengine_private_load, mmengine_load],
                         ids=['_load_checkpoint', 'load_checkpoint'])
def test_mmengine_loaders_never_run_checkpoint_content(load, kind, marker,
                                                       tmp_path):
    content = dict(state_dict=encoder_weights(), meta=dict(epoch=1))
    src = plant(kind, content, tmp_path, 'src', marker)
    assert_refused_or_loaded(kind, load, src, tmp_path)


# ------------------------------------------------ the training runner ----
@pytest.fixture(scope='module')
def runner_epoch1(demo_videos, tmp_path_factory):
    """A real checkpoint of one epoch of the tiny demo recognizer."""
    work_dir = tmp_path_factory.mktemp('runner')
    scopes = dict(DefaultScope._instance_dict)
    try:
        train(tiny_recognizer_cfg(demo_videos), work_dir, 1)
    finally:  # the runner's default scope must not outlive the fixture
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(scopes)
    return load_checkpoint_file(str(work_dir / 'epoch_1.pth'))


def _runner_log(work_dir: pathlib.Path) -> str:
    return max(work_dir.glob('*/*.log')).read_text()  # the latest run's


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('how', ['--resume FILE', 'auto-resume'])
def test_resume_never_runs_checkpoint_content(how, kind, demo_videos,
                                              runner_epoch1, marker,
                                              tmp_path):
    """``--resume FILE`` and auto-resume from a planted newest checkpoint:
    pickled code is refused naming the file; ``meta['config']`` text, which
    MMEngine's resume executes, is dropped unread."""
    if how == 'auto-resume' and kind == 'pickle.safetensors':
        pytest.skip('auto-resume reads only the hook-named epoch_*.pth')
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    src = plant(kind, runner_epoch1, work_dir, 'epoch_1', marker)
    cfg = tiny_recognizer_cfg(demo_videos)
    cfg.log_level = 'INFO'
    resume = src if how == '--resume FILE' else True
    if kind in PICKLES:
        with pytest.raises(CheckpointLoadError) as exc:
            train(cfg, work_dir, 2, resume=resume)
        assert_names_file(str(exc.value), src)
    else:
        runner = train(cfg, work_dir, 2, resume=resume)
        assert runner.epoch == 2
        assert "Ignored the checkpoint's meta['config']" in _runner_log(
            work_dir)


@pytest.mark.parametrize('kind', KINDS)
def test_test_tool_never_runs_checkpoint_content(kind, demo_videos,
                                                 runner_epoch1, marker,
                                                 tmp_path):
    """``tools/test.py CONFIG CHECKPOINT`` (its ``load_from``)."""
    cfg = tiny_recognizer_cfg(demo_videos)
    for key in ('test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = Config.fromfile(RECOGNIZER)[key]
    cfg.test_dataloader.dataset.ann_file = demo_videos['val_list']
    cfg.test_dataloader.dataset.data_prefix.video = demo_videos['root']
    cfg.test_dataloader.dataset.pipeline[1].clip_len = 4
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    src = plant(kind, runner_epoch1, tmp_path, 'src', marker)
    out = tmp_path / 'metrics.json'
    run = functools.partial(load_script('tools/test.py').main, [
        config, src, '--work-dir', str(tmp_path / 'test'), '--out',
        str(out)])
    if kind in PICKLES:
        with pytest.raises(CheckpointLoadError) as exc:
            run()
        assert_names_file(str(exc.value), src)
        assert not out.exists()
    else:
        run()
        assert 'acc/top1' in json.loads(out.read_text())['metrics']
