"""EK100 annotation CSVs, the action map and EpicKitchensAnticipationDataset."""
import logging
import os.path as osp

import numpy as np
import pytest
from mmengine.logging import MMLogger

from mmivnext.datasets import (EpicKitchensAnticipationDataset,
                               build_action_map, load_action_map,
                               read_ek100_csv, save_action_map)
from mmivnext.datasets.ek100_anticipation_dataset import parse_timestamp
from mmivnext.testing import make_synthetic_ek100

HEADER = ('narration_id,participant_id,video_id,narration_timestamp,'
          'start_timestamp,stop_timestamp,start_frame,stop_frame,narration,'
          'verb,verb_class,noun,noun_class,all_nouns,all_noun_classes\n')


def row(nid, start, stop, verb, noun, video='P01_01'):
    return (f'{nid},P01,{video},{start},{start},{stop},0,0,x,v,{verb},n,'
            f'{noun},"[\'n\']",[{noun}]\n')


def write_csv(path, rows):
    with open(path, 'w') as f:
        f.write(HEADER + ''.join(rows))
    return str(path)


@pytest.fixture
def train_csv(tmp_path):
    return write_csv(tmp_path / 'train.csv', [
        row('P01_01_0', '00:00:00.50', '00:00:01.00', 3, 7),
        row('P01_01_1', '00:00:10.25', '00:00:12.00', 0, 1),
        row('P01_01_2', '00:01:02.125', '00:01:03.000', 3, 7),
        row('P01_01_3', '00:00:04.00', '00:00:05.00', 2, 0)])


def test_timestamps():
    assert parse_timestamp('00:00:01.089') == pytest.approx(1.089)
    assert parse_timestamp('01:02:03.5') == pytest.approx(3723.5)
    assert parse_timestamp('00:00:07') == 7.
    for bad in ('1.5', '00:61:00.0', '00:00:00,5', ''):
        with pytest.raises(ValueError, match='HH:MM:SS'):
            parse_timestamp(bad)


def test_read_csv(train_csv):
    rows = read_ek100_csv(train_csv)
    assert [r['narration_id'] for r in rows] == [
        'P01_01_0', 'P01_01_1', 'P01_01_2', 'P01_01_3']
    assert rows[2]['start_sec'] == pytest.approx(62.125)
    assert (rows[1]['verb'], rows[1]['noun'], rows[1]['line']) == (0, 1, 3)


@pytest.mark.parametrize('bad_row, message', [
    (row('P01_01_9', '00:00:xx', '00:00:02.0', 0, 0),
     r"line 3, column 'start_timestamp'"),
    (row('P01_01_9', '00:00:01.0', '00:00:02.0', 'open', 0),
     r"line 3, column 'verb_class': expected an integer >= 0, got 'open'"),
    (row('P01_01_9', '00:00:01.0', '00:00:02.0', 0, -1),
     r"line 3, column 'noun_class'"),
    (row('P01_01_9', '00:00:03.0', '00:00:02.0', 0, 0),
     r'line 3, columns start_timestamp / stop_timestamp'),
    (row('P01_01_0', '00:00:01.0', '00:00:02.0', 0, 0),
     r"line 3, column \"narration_id\": 'P01_01_0' repeats line 2"),
])
def test_bad_rows_name_file_line_and_column(tmp_path, bad_row, message):
    path = write_csv(tmp_path / 'bad.csv', [
        row('P01_01_0', '00:00:00.5', '00:00:01.0', 0, 0), bad_row])
    with pytest.raises(ValueError, match=message) as err:
        read_ek100_csv(path)
    assert 'bad.csv' in str(err.value)


def test_missing_columns_and_empty_files(tmp_path):
    path = tmp_path / 'cols.csv'
    path.write_text('narration_id,video_id\nP01_01_0,P01_01\n')
    with pytest.raises(ValueError, match=r"lacks the columns \['participant"):
        read_ek100_csv(str(path))
    with pytest.raises(ValueError, match='no annotation rows'):
        read_ek100_csv(write_csv(tmp_path / 'empty.csv', []))
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        read_ek100_csv(str(tmp_path / 'nope.csv'))


def test_action_map_build_save_load(train_csv, tmp_path):
    action_map = build_action_map(train_csv)
    assert action_map == {(0, 1): 0, (2, 0): 1, (3, 7): 2}  # sorted pairs
    path = str(tmp_path / 'actions.csv')
    save_action_map(path, action_map, verb_names={0: 'take', 2: 'put',
                                                  3: 'open'},
                    noun_names={0: 'tap', 1: 'plate', 7: 'fridge'})
    with open(path) as f:
        assert f.read().splitlines() == [
            'id,verb,noun,action', '0,0,1,take_plate', '1,2,0,put_tap',
            '2,3,7,open_fridge']
    assert load_action_map(path) == action_map


@pytest.mark.parametrize('text, message', [
    ('id,verb,noun\n0,1,1\n2,1,2\n', r'ids must be 0 \.\. 1'),
    ('id,verb,noun\n0,1,1\n1,1,1\n', r'line 3, columns verb / noun'),
    ('id,verb,noun\n0,1,1\n0,1,2\n', r'line 3, column "id": 0 repeats'),
    ('id,verb,noun\n0,x,1\n', r"line 2, column 'verb'"),
    ('id,verb\n0,1\n', r"lacks the columns \['noun'\]"),
])
def test_bad_action_maps(tmp_path, text, message):
    path = tmp_path / 'actions.csv'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_action_map(str(path))


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.fixture
def log_records():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def dataset(ann_file, **kwargs):
    cfg = dict(ann_file=ann_file, pipeline=[],
               data_prefix=dict(video='/videos'), action_map_from=ann_file,
               num_frames=4, fps=2.0, anticipation_time=1.0)
    cfg.update(kwargs)
    return EpicKitchensAnticipationDataset(**cfg)


def test_context_times_labels_and_paths(train_csv):
    data = dataset(train_csv)
    assert len(data) == 4
    info = data.get_data_info(1)  # action at 10.25 s: context [7.25, 9.25)
    assert info['frame_times'] == pytest.approx([7.25, 7.75, 8.25, 8.75])
    assert info['filename'] == osp.join('/videos', 'P01/videos/P01_01.MP4')
    assert (info['gt_verb'], info['gt_noun'], info['gt_action']) == (0, 1, 0)
    assert info['action_start_sec'] == pytest.approx(10.25)
    assert data.num_actions == 3
    other = dataset(train_csv, video_path_template='{video_id}.mp4',
                    data_prefix=dict(video='root'))
    assert other.get_data_info(0)['filename'] == 'root/P01_01.mp4'


def test_contexts_before_the_video_are_clamped_or_dropped(train_csv,
                                                          log_records):
    # The first action starts at 0.5 s: its context is [-2.5, -0.5).
    clamped = dataset(train_csv)
    assert clamped.num_before_video_start == 1
    assert clamped.get_data_info(0)['frame_times'] == [0., 0., 0., 0.]
    warnings = [m for level, m in log_records if level == logging.WARNING]
    assert any(m.startswith('Clamped to 0 s') and '1 of 4 segments' in m
               and 'P01_01_0' in m for m in warnings)
    dropped = dataset(train_csv, before_video_start='drop')
    assert len(dropped) == 3 and dropped.num_before_video_start == 1
    assert any(m.startswith('Dropped: 1 of 4') for _, m in log_records)
    # The third action (4 s) has a context [1, 3): kept as it is.
    assert clamped.get_data_info(3)['frame_times'] == pytest.approx(
        [1., 1.5, 2., 2.5])


def test_unseen_actions(train_csv, tmp_path, log_records):
    val = write_csv(tmp_path / 'val.csv', [
        row('P02_01_0', '00:00:09.0', '00:00:10.0', 3, 7, video='P02_01'),
        row('P02_01_1', '00:00:19.0', '00:00:20.0', 3, 1, video='P02_01')])
    data = dataset(val, action_map_from=train_csv, test_mode=True)
    assert len(data) == 1 and data.num_unseen_actions == 1
    assert data.get_data_info(0)['gt_action'] == 2
    assert any('Dropped 1 of 2 segments' in m and 'P02_01_1' in m
               for _, m in log_records)
    with pytest.raises(ValueError, match=r'val.csv, line 3, columns '
                       r'verb_class / noun_class: the action \(3, 1\)'):
        dataset(val, action_map_from=train_csv, unseen_actions='raise')


def test_argument_errors(train_csv, tmp_path):
    with pytest.raises(ValueError, match='exactly one of action_map_file'):
        dataset(train_csv, action_map_file=train_csv)
    with pytest.raises(ValueError, match='before_video_start'):
        dataset(train_csv, before_video_start='pad')
    with pytest.raises(ValueError, match='video_path_template'):
        dataset(train_csv, video_path_template='{kitchen}/{video_id}.MP4')
    with pytest.raises(FileNotFoundError, match='do not exist'):
        dataset(train_csv, check_files=True)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_ek100_data')
    return make_synthetic_ek100(str(root), num_train_videos=1,
                                num_val_videos=1, events_per_video=3)


def test_pipeline_on_synthetic_videos(synthetic):
    pipeline = [
        dict(type='mmaction.DecordInit'),
        dict(type='mmivnext.SampleFramesByTime'),
        dict(type='mmaction.DecordDecode'),
        dict(type='mmaction.FormatShape', input_format='NCTHW'),
        dict(type='mmaction.PackActionInputs',
             algorithm_keys=('gt_verb', 'gt_noun', 'gt_action'),
             meta_keys=('narration_id', 'frame_inds'))]
    data = EpicKitchensAnticipationDataset(
        synthetic['train_csv'], pipeline,
        data_prefix=dict(video=synthetic['video_root']),
        action_map_file=synthetic['actions_csv'], num_frames=4, fps=4.0,
        check_files=True)
    sample = data[1]  # action at 7 s: context [5, 6) at 4 fps, video 8 fps
    assert sample['inputs'].shape == (1, 3, 4, 56, 56)
    packed = sample['data_samples']
    np.testing.assert_array_equal(packed.frame_inds, [40, 42, 44, 46])
    # 3 training events: actions (0, 0), (1, 0), (2, 0) -> ids 0, 1, 2.
    assert (packed.gt_verb, packed.gt_noun, packed.gt_action) == (1, 0, 1)
