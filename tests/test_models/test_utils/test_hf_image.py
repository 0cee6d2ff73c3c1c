"""The Hugging Face image helpers shared by SigLIPTeacher and
PerFrameImageEncoder, on tiny random checkpoints written to tmp dirs (width 32,
2 layers, patch 16, 32 px) and checked against transformers' own image
processors."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

import mmivnext.models  # noqa: F401  (upstream fixes before transformers)
from mmivnext.models.utils import (SIGLIP_MODEL_CLASSES, clips_to_model_images,
                                   load_pretrained_strict, naflex_patchify,
                                   native_image_size, read_image_statistics,
                                   run_siglip_vision_model)
from mmivnext.testing import save_tiny_siglip
from transformers import (Siglip2ImageProcessor, Siglip2VisionConfig,
                          Siglip2VisionModel, SiglipImageProcessor,
                          SiglipVisionModel)

C = 32
OWNER = 'TestOwner'


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Folders of tiny checkpoints: ``siglip`` (save_tiny_siglip, no
    preprocessor config) and ``naflex`` (Siglip2VisionModel, 3 x 3 patches)."""
    root = tmp_path_factory.mktemp('hf_image')
    dirs = dict(siglip=save_tiny_siglip(str(root / 'siglip'), hidden_size=C,
                                        num_heads=2, image_size=32))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        Siglip2VisionModel(Siglip2VisionConfig(
            hidden_size=C, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, patch_size=16,
            num_patches=9)).save_pretrained(str(root / 'naflex'))
    dirs['naflex'] = str(root / 'naflex')
    return dirs


def _load(path, dtype=torch.float32):
    return load_pretrained_strict(path, SIGLIP_MODEL_CLASSES, dtype, 'sdpa',
                                  OWNER).eval()


def _column(values):
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


# ------------------------------------------------------------------ loading
@pytest.mark.parametrize('name,cls', [('siglip', SiglipVisionModel),
                                      ('naflex', Siglip2VisionModel)])
def test_load_picks_the_class_and_keeps_the_weights(ckpts, name, cls):
    model = _load(ckpts[name], torch.bfloat16)
    assert type(model) is cls and model.dtype == torch.bfloat16
    saved = load_file(f'{ckpts[name]}/model.safetensors')
    state = model.state_dict()
    assert sorted(saved) == sorted(state)
    for key, value in saved.items():
        assert torch.equal(state[key], value.to(torch.bfloat16)), key


def test_load_refuses_missing_weights(ckpts, tmp_path):
    """The checkpoint and the key of the weight transformers would initialise
    at random are named. (Weights of another shape are refused by
    transformers itself, which ``ignore_mismatched_sizes=False`` makes raise.)
    """
    SiglipVisionModel.from_pretrained(ckpts['siglip']).save_pretrained(
        str(tmp_path))
    key = 'encoder.layers.1.mlp.fc1.weight'
    state = load_file(str(tmp_path / 'model.safetensors'))
    del state[key]
    save_file(state, str(tmp_path / 'model.safetensors'),
              metadata=dict(format='pt'))
    with pytest.raises(ValueError, match='lacks weights') as info:
        _load(str(tmp_path))
    message = str(info.value)
    assert message.startswith(f'{OWNER}: pretrained={str(tmp_path)!r}')
    assert key in message


def test_load_refuses_other_models_and_unreadable_paths(tmp_path):
    (tmp_path / 'config.json').write_text(json.dumps(dict(model_type='bert')))
    with pytest.raises(ValueError, match="is a 'bert' checkpoint") as info:
        _load(str(tmp_path))
    assert str(sorted(SIGLIP_MODEL_CLASSES)) in str(info.value)
    missing = str(tmp_path / 'no_such_checkpoint')
    with pytest.raises(OSError, match=f'{OWNER}: .*no_such_checkpoint'):
        _load(missing)


def test_native_image_size(ckpts):
    """Fixed resolution: ``image_size``; NaFlex: ``sqrt(num_patches) * p``."""
    assert native_image_size(_load(ckpts['siglip'])) == 32
    assert native_image_size(_load(ckpts['naflex'])) == 48


# --------------------------------------------------------------- statistics
def test_statistics_without_preprocessor_config(ckpts):
    mean, std, mode = read_image_statistics(ckpts['siglip'], OWNER)
    assert_close(mean, (127.5, ) * 3) and assert_close(std, (127.5, ) * 3)
    assert mode is None


@pytest.mark.parametrize('config,mean,std,mode', [
    (dict(image_mean=[0.4, 0.45, 0.5], image_std=[0.2, 0.25, 0.3],
          resample=2), (102.0, 114.75, 127.5), (51.0, 63.75, 76.5),
     'bilinear'),
    (dict(image_mean=[0.4, 0.45, 0.5], image_std=[0.2, 0.25, 0.3],
          rescale_factor=0.01, resample=3), (40.0, 45.0, 50.0),
     (20.0, 25.0, 30.0), 'bicubic'),
    (dict(image_mean=[100.0] * 3, image_std=[50.0] * 3, do_rescale=False),
     (100.0, ) * 3, (50.0, ) * 3, None),
    (dict(image_mean=[0.4] * 3, image_std=[0.2] * 3, do_normalize=False),
     (0.0, ) * 3, (255.0, ) * 3, None),
])
def test_statistics_from_preprocessor_config(tmp_path, config, mean, std,
                                             mode):
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(config))
    read = read_image_statistics(str(tmp_path), OWNER)
    assert_close(read[0], mean) and assert_close(read[1], std)
    assert read[2] == mode


def test_statistics_match_siglip_image_processor(tmp_path):
    """``(x - mean) / std`` on 0-255 pixels is what the processor computes."""
    processor = SiglipImageProcessor(image_mean=[0.4, 0.45, 0.5],
                                     image_std=[0.2, 0.25, 0.3],
                                     rescale_factor=1 / 200)
    processor.save_pretrained(str(tmp_path))
    mean, std, mode = read_image_statistics(str(tmp_path), OWNER)
    assert mode == 'bicubic'  # SiglipImageProcessor's default resample
    pixels = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    pixels = pixels * 255
    expected = processor(images=[pixels], do_resize=False,
                         return_tensors='pt').pixel_values
    assert_close((pixels[None] - _column(mean)) / _column(std), expected)


def test_statistics_refuse_other_resampling(tmp_path):
    (tmp_path / 'preprocessor_config.json').write_text(
        json.dumps(dict(resample=0)))
    with pytest.raises(ValueError, match='PIL code 0') as info:
        read_image_statistics(str(tmp_path), OWNER)
    assert str(info.value).startswith(f'{OWNER}: ')
    assert repr(str(tmp_path)) in str(info.value)


# ------------------------------------------------------------ preprocessing
def _clips(batch=2, frames=3, size=40, seed=0):
    """``(clips [B, 3, T, S, S] normalised with (100, 50), 0-255 frames)``."""
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.rand(batch, 3, frames, size, size, generator=gen) * 255
    return (pixels - 100.0) / 50.0, pixels


@pytest.mark.parametrize('resample,mode', [(2, 'bilinear'), (3, 'bicubic')])
def test_clips_to_model_images_match_siglip_image_processor(resample, mode):
    """Resized with antialiasing and renormalised as the processor does, row
    ``b * T + t`` being frame ``t`` of sample ``b``."""
    processor = SiglipImageProcessor(size=dict(height=32, width=32),
                                     resample=resample,
                                     image_mean=[0.4, 0.45, 0.5],
                                     image_std=[0.2, 0.25, 0.3])
    clips, pixels = _clips()
    images = clips_to_model_images(
        clips, _column([100.0] * 3), _column([50.0] * 3),
        _column([102.0, 114.75, 127.5]), _column([51.0, 63.75, 76.5]), 32,
        mode, torch.float32)
    assert images.shape == (6, 3, 32, 32)
    expected = processor(images=[pixels[b, :, t] for b in range(2)
                                 for t in range(3)],
                         return_tensors='pt').pixel_values
    assert_close(images, expected, atol=1e-4, rtol=1e-4)


def test_clips_to_model_images_without_resizing():
    """Frames of the right size are only renormalised, then cast."""
    clips, pixels = _clips(size=32)
    images = clips_to_model_images(clips, _column([100.0] * 3),
                                   _column([50.0] * 3), _column([127.5] * 3),
                                   _column([127.5] * 3), 32, 'bicubic',
                                   torch.bfloat16)
    assert images.dtype == torch.bfloat16
    frames = pixels.transpose(1, 2).flatten(0, 1)  # [B * T, 3, 32, 32]
    assert_close(images, ((frames - 127.5) / 127.5).to(torch.bfloat16))


@pytest.mark.parametrize('shape', [(2, 3, 32, 32), (2, 1, 3, 32, 32)])
def test_clips_to_model_images_bad_shape(shape):
    with pytest.raises(ValueError, match=r'\[B, 3, T, H, W\], got'):
        clips_to_model_images(torch.zeros(shape), *[_column([0.0] * 3)] * 4,
                              32, 'bicubic', torch.float32)


# ------------------------------------------------------------------- NaFlex
@pytest.mark.parametrize('height,width', [(32, 32), (32, 48)])
def test_naflex_patchify_matches_siglip2_image_processor(height, width):
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, height, width, generator=gen)
    num_patches = height // 16 * (width // 16)
    processor = Siglip2ImageProcessor(do_resize=False, do_rescale=False,
                                      do_normalize=False, patch_size=16,
                                      max_num_patches=num_patches)
    expected = processor(images=list(images), return_tensors='pt')
    patches = naflex_patchify(images, 16)
    assert patches.shape == (2, num_patches, 16 * 16 * 3)
    assert torch.equal(patches, expected.pixel_values)


@pytest.mark.parametrize('shape', [(2, 3, 32, 40), (3, 32, 32)])
def test_naflex_patchify_bad_shape(shape):
    with pytest.raises(ValueError, match='multiples of the patch size 16'):
        naflex_patchify(torch.zeros(shape), 16)


def test_run_naflex_model_equals_siglip2_image_processor(ckpts):
    """The model on our patches = the model on the processor's output (2 x 3
    patches: a swapped spatial shape would resize the position embedding
    differently)."""
    model = _load(ckpts['naflex'])
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 32, 48, generator=gen)
    processor = Siglip2ImageProcessor(do_resize=False, do_rescale=False,
                                      do_normalize=False, patch_size=16,
                                      max_num_patches=6)
    with torch.no_grad():
        output = run_siglip_vision_model(model, images,
                                         output_hidden_states=True)
        expected = model(**processor(images=list(images), return_tensors='pt'),
                         output_hidden_states=True)
    assert output.last_hidden_state.shape == (2, 6, C)
    assert_close(output.last_hidden_state, expected.last_hidden_state)
    assert_close(output.pooler_output, expected.pooler_output)
    assert_close(output.hidden_states[1], expected.hidden_states[1])


@pytest.mark.parametrize('size', [32, 48], ids=['native', 'interpolated'])
def test_run_fixed_resolution_model(ckpts, size):
    """Other sizes than ``image_size`` interpolate the position embedding."""
    model = _load(ckpts['siglip'])
    images = torch.randn(2, 3, size, size,
                         generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        output = run_siglip_vision_model(model, images,
                                         output_hidden_states=False)
        expected = model(pixel_values=images,
                         interpolate_pos_encoding=size != 32)
    assert output.hidden_states is None
    assert output.last_hidden_state.shape == (2, (size // 16)**2, C)
    assert_close(output.last_hidden_state, expected.last_hidden_state)
    assert_close(output.pooler_output, expected.pooler_output)
