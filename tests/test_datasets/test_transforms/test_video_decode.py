"""VideoInit / VideoDecode: every backend reads the frames that were written,
at the same indices, on mp4 files written by mmivnext.testing."""
import numpy as np
import pytest
from mmaction.datasets.transforms import UniformSample

from mmivnext.datasets.transforms import (VIDEO_BACKENDS, VideoDecode,
                                          VideoInit, available_video_backends,
                                          open_video)
from mmivnext.datasets.transforms.video_decode import backend_import_error
from mmivnext.testing.demo_videos import render_demo_clip, write_mp4

NUM_FRAMES, SIZE, FPS = 40, 56, 8.0
#: Mean absolute error over which ``demo_videos.check_decodes`` calls a
#: decoded video wrong (mp4v's quantisation stays well below it).
CODEC_BOUND = 20.
#: Backends decode the same bitstream with libavcodec and differ only in the
#: YUV -> RGB conversion, whose rounding moves a value by at most one level.
CONVERSION_BOUND = 1.


def usable(backend):
    """``backend`` as a parameter, skipped with the import error if its
    library cannot be loaded here."""
    problem = backend_import_error(backend)
    return pytest.param(backend, marks=pytest.mark.skipif(
        problem is not None,
        reason=f'{backend} cannot be imported here: {problem}'))


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    """An mp4 of ``NUM_FRAMES`` moving-shape frames and the frames written
    ``[T, H, W, 3]``."""
    frames = render_demo_clip(5, NUM_FRAMES, SIZE, np.random.default_rng(3))
    path = str(tmp_path_factory.mktemp('video') / 'clip.mp4')
    write_mp4(path, frames, FPS)
    return path, frames


def nearest_written(decoded, frames):
    """For each decoded frame, the index of the written frame closest to it
    (mean absolute difference)."""
    errors = np.abs(decoded[:, None].astype(np.float32) -
                    frames[None].astype(np.float32)).mean(axis=(2, 3, 4))
    return errors.argmin(axis=1)  # [T]


def run_pipeline(path, backend, clip_len=8, num_threads=1):
    results = dict(filename=path, start_index=0)
    for t in (VideoInit(backend, num_threads),
              UniformSample(clip_len, num_clips=2, test_mode=True),
              VideoDecode()):
        results = t(results)
    return results


@pytest.mark.parametrize('backend', [usable(b) for b in VIDEO_BACKENDS])
def test_backend_reads_the_written_frames(written, backend):
    path, frames = written
    reader = open_video(path, backend)
    assert reader.num_frames == NUM_FRAMES
    assert reader.fps == pytest.approx(FPS)
    # Unsorted, repeated, across key frames, first and last.
    inds = np.array([39, 0, 17, 17, 5, 38, 1, 30])
    decoded = reader.read(inds)
    assert decoded.shape == (len(inds), SIZE, SIZE, 3)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(nearest_written(decoded, frames), inds)
    error = np.abs(decoded.astype(np.float32) - frames[inds]).mean()
    assert error < CODEC_BOUND

    results = run_pipeline(path, backend)
    assert results['total_frames'] == NUM_FRAMES
    assert results['avg_fps'] == pytest.approx(FPS)
    assert results['video_reader'] is None
    assert len(results['imgs']) == 16
    assert results['img_shape'] == results['original_shape'] == (SIZE, SIZE)
    np.testing.assert_array_equal(
        nearest_written(np.stack(results['imgs']), frames),
        results['frame_inds'])


@pytest.mark.parametrize('backend', [usable(b) for b in VIDEO_BACKENDS
                                     if b != 'decord'])
def test_backend_agrees_with_decord(written, backend):
    path, _ = written
    ref = run_pipeline(path, 'decord')
    # Other thread settings change neither the frames nor the pixels.
    for num_threads in (1, 0, 2):
        out = run_pipeline(path, backend, num_threads=num_threads)
        np.testing.assert_array_equal(out['frame_inds'], ref['frame_inds'])
        diff = np.abs(np.stack(out['imgs']).astype(np.float32) -
                      np.stack(ref['imgs']))
        assert diff.mean() <= CONVERSION_BOUND, (num_threads, diff.mean())


def test_dataset_pipeline_with_pyav(demo_videos):
    from mmengine.registry import DefaultScope

    from mmivnext.datasets import UnlabeledVideoDataset
    pipeline = [dict(type='mmivnext.VideoInit', backend='pyav'),
                dict(type='mmaction.UniformSample', clip_len=4,
                     test_mode=True),
                dict(type='mmivnext.VideoDecode'),
                dict(type='mmaction.FormatShape', input_format='NCTHW'),
                dict(type='mmaction.PackActionInputs')]
    with DefaultScope.overwrite_default_scope('mmivnext'):
        dataset = UnlabeledVideoDataset(
            demo_videos['train_list'], pipeline,
            data_prefix=dict(video=demo_videos['root']), test_mode=True)
        sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (1, 3, 4, 56, 56)


def test_errors_name_the_problem(written, tmp_path):
    path, _ = written
    with pytest.raises(ValueError, match="backend must be one of"):
        VideoInit('opencv')
    with pytest.raises(ValueError, match='num_threads must be >= 0'):
        VideoInit('pyav', num_threads=-1)
    with pytest.raises(IndexError, match=r'frame 40 is outside \[0, 40\)'):
        open_video(path, 'pyav').read(np.array([3, 40]))
    missing = str(tmp_path / 'missing.mp4')
    for backend in available_video_backends():
        with pytest.raises(Exception):
            VideoInit(backend)(dict(filename=missing))
    unusable = [b for b in VIDEO_BACKENDS if backend_import_error(b)]
    for backend in unusable:
        with pytest.raises(ImportError, match=f'video backend {backend!r} '
                           'is not usable here'):
            VideoInit(backend)(dict(filename=path))
    assert repr(VideoInit('pyav', 2)) == \
        "VideoInit(backend='pyav', num_threads=2)"
    assert repr(VideoDecode()) == 'VideoDecode()'
