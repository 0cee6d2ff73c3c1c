"""UnlabeledVideoDataset: list parsing, the pipeline on real mp4 files, and what
happens with unreadable videos."""
import logging
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from mmivnext.datasets import UnlabeledVideoDataset, VideoReadError
from mmivnext.registry import DATASETS

# Opening, sampling and decoding only: the results keep ``filename``.
DECODE_PIPELINE = [
    dict(type='mmaction.DecordInit'),
    dict(type='mmaction.UniformSample', clip_len=4, num_clips=1),
    dict(type='mmaction.DecordDecode'),
]


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def _labels(list_file):
    with open(list_file) as f:
        return [int(line.split()[1]) for line in f]


@pytest.fixture
def log_records():
    """The dataset's WARNINGs logged through MMEngine's current logger (other
    warnings, such as mmengine's FileClient deprecation, are left out)."""
    records = []
    handler = logging.Handler(level=logging.WARNING)

    def emit(record):
        if record.getMessage().startswith(('Skipped video', 'Dropped')):
            records.append(record)

    handler.emit = emit
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def broken_videos(tmp_path, demo_videos):
    """A folder with good, truncated, garbage and missing videos, and a list.

    Returns:
        dict: ``root`` and the paths of ``good`` (a copy of a demo video),
        ``truncated`` (its first half), ``garbage`` (random bytes) and
        ``missing`` (listed, never written).
    """
    good = tmp_path / 'good.mp4'
    shutil.copy(osp.join(demo_videos['root'], 'train', 'video_00000.mp4'),
                good)
    data = good.read_bytes()
    (tmp_path / 'truncated.mp4').write_bytes(data[:len(data) // 2])
    rng = np.random.default_rng(0)
    (tmp_path / 'garbage.mp4').write_bytes(rng.bytes(2000))
    names = ('good', 'truncated', 'garbage', 'missing')
    paths = {name: str(tmp_path / f'{name}.mp4') for name in names}
    paths['root'] = str(tmp_path)
    return paths


def _one_video_list(tmp_path, name, copies=1):
    return _write(tmp_path / f'{name}.txt', f'{name}.mp4\n' * copies)


def test_parses_lists_with_and_without_labels(tmp_path):
    ann = _write(tmp_path / 'list.txt',
                 'a/x.mp4 3\n'
                 'b/y.mp4\n'
                 '\n'
                 '  c/z.webm\t7  \n')
    dataset = UnlabeledVideoDataset(ann, pipeline=[],
                                    data_prefix=dict(video='/videos'))
    assert len(dataset) == 3
    infos = [dataset.get_data_info(i) for i in range(3)]
    assert [i['filename'] for i in infos] == [
        '/videos/a/x.mp4', '/videos/b/y.mp4', '/videos/c/z.webm']
    assert [i['label'] for i in infos] == [3, -1, 7]
    assert {(i['start_index'], i['modality']) for i in infos} == {(0, 'RGB')}
    # Without a pipeline the sample is the parsed line itself.
    assert dataset[1]['filename'] == '/videos/b/y.mp4'


@pytest.mark.parametrize('bad_line, message', [
    ('c.mp4 1 2', 'expected "<path> \\[label\\]", got 3 fields'),
    ('c.mp4 cat', 'the label must be an integer'),
    ('c.mp4 1.5', 'the label must be an integer'),
])
def test_bad_line_error_names_file_and_line(tmp_path, bad_line, message):
    ann = _write(tmp_path / 'list.txt', f'a.mp4 0\n\nb.mp4\n{bad_line}\n')
    with pytest.raises(ValueError, match=re.escape(f'{ann}:4: ') + message):
        UnlabeledVideoDataset(ann, pipeline=[])


def test_empty_or_missing_list_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='lists no videos'):
        UnlabeledVideoDataset(_write(tmp_path / 'empty.txt', '\n'), [])
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        UnlabeledVideoDataset(str(tmp_path / 'nope.txt'), [])


def test_rejects_bad_arguments(tmp_path):
    ann = _write(tmp_path / 'list.txt', 'a.mp4\n')
    with pytest.raises(ValueError, match="on_corrupt must be one of"):
        UnlabeledVideoDataset(ann, [], on_corrupt='ignore')
    with pytest.raises(ValueError, match='refused with test_mode=True'):
        UnlabeledVideoDataset(ann, [], on_corrupt='skip', test_mode=True)
    with pytest.raises(ValueError, match='data_prefix must be'):
        UnlabeledVideoDataset(ann, [], data_prefix=dict(img=''))


def test_full_pipeline_gives_one_uint8_ncthw_clip(demo_videos, mmivnext_scope):
    pipeline = [
        dict(type='mmaction.DecordInit'),
        dict(type='mmaction.UniformSample', clip_len=8, num_clips=1),
        dict(type='mmaction.DecordDecode'),
        dict(type='mmaction.MultiScaleCrop', input_size=32,
             scales=(1, 0.875, 0.75, 0.66), random_crop=False,
             max_wh_scale_gap=1),
        dict(type='mmaction.Resize', scale=(32, 32), keep_ratio=False),
        dict(type='mmaction.Flip', flip_ratio=0.5),
        dict(type='mmaction.FormatShape', input_format='NCTHW'),
        dict(type='mmaction.PackActionInputs'),
    ]
    dataset = DATASETS.build(
        dict(type='UnlabeledVideoDataset', ann_file=demo_videos['train_list'],
             data_prefix=dict(video=demo_videos['root']), pipeline=pipeline))
    labels = _labels(demo_videos['train_list'])
    assert len(dataset) == len(labels)
    for idx in (0, 5):
        sample = dataset[idx]
        inputs = sample['inputs']
        assert inputs.shape == (1, 3, 8, 32, 32)
        assert inputs.dtype == torch.uint8
        assert inputs.float().std() > 5  # real frames, not a blank tensor
        assert sample['data_samples'].gt_label.tolist() == [labels[idx]]
    assert dataset.num_skipped == 0


def test_uniform_sample_spreads_frames_over_the_video(demo_videos,
                                                      mmivnext_scope):
    """Sparse sampling: one frame per segment, covering the whole video."""
    dataset = UnlabeledVideoDataset(
        demo_videos['train_list'], DECODE_PIPELINE,
        data_prefix=dict(video=demo_videos['root']))
    np.random.seed(0)
    for _ in range(5):
        inds = dataset[0]['frame_inds']  # 16 frames, 4 segments of ~4
        assert len(inds) == 4 and np.all(np.diff(inds) >= 0)
        assert inds[0] <= 4 and inds[-1] >= 11
        assert len(dataset[0]['imgs']) == 4


@pytest.mark.parametrize('name', ['truncated', 'garbage', 'missing'])
def test_unreadable_video_raises_naming_the_file(broken_videos, tmp_path,
                                                 name, mmivnext_scope):
    dataset = UnlabeledVideoDataset(
        _one_video_list(tmp_path, name), DECODE_PIPELINE,
        data_prefix=dict(video=broken_videos['root']))
    with pytest.raises(VideoReadError) as info:
        dataset[0]
    assert info.value.filename == broken_videos[name]
    assert str(info.value).startswith(
        f"cannot read video '{broken_videos[name]}': DecordInit raised ")
    assert info.value.__cause__ is not None
    assert dataset.num_skipped == 0


def test_skip_loads_another_video_counts_and_logs(broken_videos, tmp_path,
                                                  log_records,
                                                  mmivnext_scope):
    ann = _write(tmp_path / 'list.txt', 'garbage.mp4\ngood.mp4\n')
    dataset = UnlabeledVideoDataset(
        ann, DECODE_PIPELINE, data_prefix=dict(video=broken_videos['root']),
        on_corrupt='skip')
    np.random.seed(0)
    for _ in range(3):
        sample = dataset[0]
        assert sample['filename'] == broken_videos['good']
        assert len(sample['imgs']) == 4
    # Each call skips the garbage video at least once (more if the random
    # replacement is the garbage video again); each skip is logged.
    assert dataset.num_skipped >= 3
    messages = [r.getMessage() for r in log_records]
    assert len(messages) == dataset.num_skipped
    for count, message in enumerate(messages, 1):
        assert message.startswith(
            f"Skipped video '{broken_videos['garbage']}' (skip number "
            f'{count} in this process): DecordInit raised ')
    assert {r.levelno for r in log_records} == {logging.WARNING}


def test_skip_gives_up_after_max_refetch(broken_videos, tmp_path, log_records,
                                         mmivnext_scope):
    dataset = UnlabeledVideoDataset(
        _one_video_list(tmp_path, 'truncated', copies=2), DECODE_PIPELINE,
        data_prefix=dict(video=broken_videos['root']), on_corrupt='skip',
        max_refetch=3)
    with pytest.raises(RuntimeError, match='no readable sample after 4 '):
        dataset[1]
    assert dataset.num_skipped == 4
    assert len(log_records) == 4


def test_errors_after_decoding_are_not_read_errors(broken_videos, tmp_path,
                                                   mmivnext_scope):
    """A failing augmentation points to the pipeline: not skipped, not
    reported as the file's fault."""

    def broken_augmentation(results):
        raise ValueError('augmentation bug')

    dataset = UnlabeledVideoDataset(
        _one_video_list(tmp_path, 'good'),
        DECODE_PIPELINE + [broken_augmentation],
        data_prefix=dict(video=broken_videos['root']), on_corrupt='skip')
    with pytest.raises(ValueError, match='augmentation bug') as info:
        dataset[0]
    assert not isinstance(info.value, VideoReadError)
    assert dataset.num_skipped == 0


def test_check_files_raises_on_missing_files(broken_videos, tmp_path):
    ann = _write(tmp_path / 'list.txt', 'good.mp4\nmissing.mp4 1\n')
    with pytest.raises(FileNotFoundError) as info:
        UnlabeledVideoDataset(ann, [], check_files=True,
                              data_prefix=dict(video=broken_videos['root']))
    message = str(info.value)
    assert f"1 of 2 videos listed in '{ann}' do not exist" in message
    assert broken_videos['missing'] in message
    # Not checked unless asked: the list loads, the read fails later.
    assert len(UnlabeledVideoDataset(
        ann, [], data_prefix=dict(video=broken_videos['root']))) == 2


def test_check_files_with_skip_drops_and_logs(broken_videos, tmp_path,
                                              log_records):
    ann = _write(tmp_path / 'list.txt', 'good.mp4\nmissing.mp4 1\n')
    dataset = UnlabeledVideoDataset(
        ann, [], check_files=True, on_corrupt='skip',
        data_prefix=dict(video=broken_videos['root']))
    assert len(dataset) == 1
    assert dataset.get_data_info(0)['filename'] == broken_videos['good']
    assert dataset.missing_files == [broken_videos['missing']]
    assert len(log_records) == 1
    message = log_records[0].getMessage()
    assert message.startswith(f"Dropped 1 of 2 videos listed in '{ann}'")
    assert broken_videos['missing'] in message


def test_read_error_survives_pickling():
    """DataLoader workers send errors back to the main process by pickle."""
    import pickle
    err = pickle.loads(pickle.dumps(VideoReadError('/v/a.mp4', 'bad data')))
    assert (err.filename, err.reason) == ('/v/a.mp4', 'bad data')
    assert str(err) == "cannot read video '/v/a.mp4': bad data"


def test_demo_lists_are_relative_to_the_root(demo_videos):
    dataset = UnlabeledVideoDataset(
        demo_videos['val_list'], [], check_files=True,
        data_prefix=dict(video=demo_videos['root']))
    assert len(dataset) == 6
    assert all(osp.isfile(dataset.get_data_info(i)['filename'])
               for i in range(len(dataset)))
    assert not os.path.isabs(open(demo_videos['val_list']).readline().split()[0])
