"""VideoPretrainDataPreprocessor: shapes, normalisation values, view folding."""
import pytest
import torch
from mmaction.models import ActionDataPreprocessor
from mmaction.structures import ActionDataSample

from mmivnext.models.data_preprocessors import VideoPretrainDataPreprocessor
from mmivnext.models.data_preprocessors import \
    video_pretrain_data_preprocessor as module
from mmivnext.registry import MODELS


def _clips(batch, views, generator, t=2, size=4):
    """B uint8 clips [N, 3, T, H, W] as PackActionInputs gives them."""
    return [
        torch.randint(0, 256, (views, 3, t, size, size), dtype=torch.uint8,
                      generator=generator) for _ in range(batch)
    ]


def _samples(batch):
    return [ActionDataSample(metainfo=dict(video=i)).set_gt_label(i)
            for i in range(batch)]


def _expected(clip):
    """Normalise [..., C, T, H, W] channel by channel, written out."""
    out = torch.empty(clip.shape, dtype=torch.float32)
    statistics = zip(module.IMAGENET_MEAN, module.IMAGENET_STD)
    for c, (mean, std) in enumerate(statistics):
        out[..., c, :, :, :] = (clip[..., c, :, :, :].double() - mean) / std
    return out


def test_builds_from_the_registry_with_imagenet_buffers():
    preprocessor = MODELS.build(dict(type='VideoPretrainDataPreprocessor'))
    assert isinstance(preprocessor, ActionDataPreprocessor)
    assert preprocessor.mean.shape == preprocessor.std.shape == (3, 1, 1, 1)
    torch.testing.assert_close(preprocessor.mean.flatten(),
                               torch.tensor([123.675, 116.28, 103.53]))
    torch.testing.assert_close(preprocessor.std.flatten(),
                               torch.tensor([58.395, 57.12, 57.375]))
    # Buffers follow the module but are not checkpoint entries.
    assert dict(preprocessor.named_buffers()).keys() == {'mean', 'std'}
    assert preprocessor.state_dict() == {}


def test_normalises_one_view_per_video():
    generator = torch.Generator().manual_seed(0)
    inputs, samples = _clips(2, 1, generator), _samples(2)
    out = VideoPretrainDataPreprocessor()(
        dict(inputs=inputs, data_samples=samples), training=True)
    assert out['inputs'].shape == (2, 3, 2, 4, 4)
    assert out['inputs'].dtype == torch.float32
    for b in range(2):
        torch.testing.assert_close(out['inputs'][b], _expected(inputs[b][0]))
    assert [s.metainfo['video'] for s in out['data_samples']] == [0, 1]


def test_known_values():
    """Pixels equal to the mean become 0; mean + std becomes 1."""
    clip = torch.empty(1, 3, 1, 1, 2, dtype=torch.uint8)
    clip[0, :, 0, 0, 0] = torch.tensor([124, 116, 104])
    clip[0, :, 0, 0, 1] = torch.tensor([182, 173, 161])
    out = VideoPretrainDataPreprocessor(
        mean=(124, 116, 104), std=(58, 57, 57))(
            dict(inputs=[clip], data_samples=_samples(1)))['inputs']
    torch.testing.assert_close(out[0, :, 0, 0, 0], torch.zeros(3))
    torch.testing.assert_close(out[0, :, 0, 0, 1], torch.ones(3))


def test_folds_views_into_the_batch_video_major():
    generator = torch.Generator().manual_seed(1)
    inputs, samples = _clips(2, 3, generator), _samples(2)
    out = VideoPretrainDataPreprocessor()(
        dict(inputs=inputs, data_samples=samples))
    assert out['inputs'].shape == (6, 3, 2, 4, 4)
    for b in range(2):
        for view in range(3):
            torch.testing.assert_close(out['inputs'][b * 3 + view],
                                       _expected(inputs[b][view]))
    assert [s.metainfo['video'] for s in out['data_samples']] == [
        0, 0, 0, 1, 1, 1]
    assert [s.gt_label.item() for s in out['data_samples']] == [
        0, 0, 0, 1, 1, 1]
    # Each view owns its sample (the first is the video's, others copies).
    views = out['data_samples'][:3]
    assert len({id(view) for view in views}) == 3
    views[1].set_field(True, 'changed')
    assert 'changed' not in views[0] and 'changed' not in views[2]


def test_stacked_tensor_input_and_rgb_swap():
    generator = torch.Generator().manual_seed(2)
    inputs = torch.stack(_clips(2, 1, generator))  # [B, N, C, T, H, W]
    out = VideoPretrainDataPreprocessor(to_rgb=True)(
        dict(inputs=inputs, data_samples=_samples(2)))['inputs']
    torch.testing.assert_close(out[1], _expected(inputs[1, 0, [2, 1, 0]]))


def test_denormalising_with_the_buffers_recovers_the_frames():
    """What a teacher with other statistics does: x * std + mean."""
    generator = torch.Generator().manual_seed(3)
    inputs = _clips(2, 1, generator)
    preprocessor = VideoPretrainDataPreprocessor()
    out = preprocessor(dict(inputs=inputs, data_samples=_samples(2)))
    frames = out['inputs'] * preprocessor.std + preprocessor.mean
    torch.testing.assert_close(frames, torch.cat(inputs).float(),
                               atol=1e-4, rtol=0)


def test_rejects_clips_of_different_shapes_or_ranks():
    preprocessor = VideoPretrainDataPreprocessor()
    mixed = [torch.zeros(1, 3, 2, 4, 4, dtype=torch.uint8),
             torch.zeros(1, 3, 2, 4, 6, dtype=torch.uint8)]
    with pytest.raises(ValueError, match='must have one shape'):
        preprocessor(dict(inputs=mixed, data_samples=_samples(2)))
    no_views = [torch.zeros(3, 2, 4, 4, dtype=torch.uint8)]
    with pytest.raises(ValueError, match=r'got a batch of shape \[1, 3, 2'):
        preprocessor(dict(inputs=no_views, data_samples=_samples(1)))
    gray = [torch.zeros(1, 1, 2, 4, 4, dtype=torch.uint8)]
    with pytest.raises(ValueError, match='1 channels but mean/std have 3'):
        preprocessor(dict(inputs=gray, data_samples=_samples(1)))
    with pytest.raises(ValueError, match='one value per channel'):
        VideoPretrainDataPreprocessor(mean=(0, 0, 0), std=(1, 1))
