"""VideoBoxTrackingDataset: the windows file, its errors, and the pipeline."""
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch

from mmivnext.datasets import VideoBoxTrackingDataset
from mmivnext.testing.tiny_tracking import make_tracking_set

PIPELINE = [dict(type='mmivnext.LoadTrackingFrames'),
            dict(type='mmivnext.ResizeTrackingClip', scale=28),
            dict(type='mmivnext.PackTrackingInputs')]


@pytest.fixture(scope='module')
def tracking_set(tmp_path_factory):
    return make_tracking_set(str(tmp_path_factory.mktemp('tracking_set')))


def dataset(paths, ann_file=None, **kwargs):
    return VideoBoxTrackingDataset(
        ann_file=ann_file or paths['train_windows'], pipeline=PIPELINE,
        data_root=paths['root'], **kwargs)


def test_samples_and_pipeline(tracking_set):
    data = dataset(tracking_set)
    windows = json.load(open(tracking_set['train_windows']))['windows']
    assert len(data) == len(windows) > 0
    info = data.get_data_info(0)
    n = len(windows[0]['objects'])
    assert info['gt_boxes'].shape == (n, 16, 4)
    assert info['gt_visible'].shape == (n, 16) and info['gt_visible'][:, 0].all()
    assert info['frame_paths'][3] == osp.join(
        tracking_set['root'], 'frames', windows[0]['sequence'], '000003.jpg')
    np.testing.assert_allclose(info['gt_boxes'][0],
                               windows[0]['objects'][0]['boxes'], atol=1e-4)

    packed = data[0]
    assert packed['inputs'].shape == (3, 16, 28, 28)
    assert packed['inputs'].dtype == torch.uint8
    sample = packed['data_samples']
    # 56 px crop -> boxes / 56, whatever size the clip is resized to.
    torch.testing.assert_close(
        sample.gt_boxes, torch.tensor(info['gt_boxes'] / 56.), atol=1e-5,
        rtol=0)
    assert sample.metainfo['sequence'] == windows[0]['sequence']
    assert sample.metainfo['window_index'] == 0


def write_windows(tmp_path, edit):
    window = dict(sequence='s', frames=list(range(16)), objects=[dict(
        track_id='a', boxes=[[1, 2, 10, 12]] * 16, visible=[True] * 16)])
    data = dict(windows=[window, json.loads(json.dumps(window))])
    edit(data)
    path = tmp_path / 'windows.json'
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize('edit, key', [
    (lambda d: d['windows'][1].update(frames=list(range(8))),
     r'windows\[1\]\.frames: expected 16 frame indices'),
    (lambda d: d['windows'][1]['objects'][0]['boxes'].__setitem__(
        3, [5, 2, 4, 9]), r'windows\[1\]\.objects\[0\]\.boxes\[3\]'),
    (lambda d: d['windows'][1]['objects'][0]['boxes'].__setitem__(3, [1, 2]),
     r'windows\[1\]\.objects\[0\]\.boxes\[3\]'),
    (lambda d: d['windows'][1]['objects'][0].update(
        visible=[False] + [True] * 15),
     r'windows\[1\]\.objects\[0\]\.visible: .* first frame'),
    (lambda d: d['windows'][1].pop('objects'), r'windows\[1\]: missing'),
    (lambda d: d['windows'][1].update(objects=[]), r'windows\[1\]\.objects'),
    (lambda d: d['windows'][1].update(
        objects=d['windows'][1]['objects'] * 26),
     r'windows\[1\]\.objects: 26 objects'),
    (lambda d: d.update(windows=[]), 'windows: the list is empty'),
])
def test_bad_windows_name_file_and_key(tmp_path, edit, key):
    path = write_windows(tmp_path, edit)
    with pytest.raises(ValueError, match=f'{re.escape(path)}: {key}'):
        VideoBoxTrackingDataset(ann_file=path, pipeline=[])


def test_invisible_boxes_are_not_checked(tmp_path):
    def edit(data):
        obj = data['windows'][0]['objects'][0]
        obj['visible'][4] = False
        obj['boxes'][4] = [0, 0, 0, 0]
    data = VideoBoxTrackingDataset(ann_file=write_windows(tmp_path, edit),
                                   pipeline=[])
    assert not data.get_data_info(0)['gt_visible'][0, 4]


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        VideoBoxTrackingDataset(ann_file=str(tmp_path / 'nope.json'),
                                pipeline=[])
    path = tmp_path / 'broken.json'
    path.write_text('{"windows": [')
    with pytest.raises(ValueError, match='broken.json: not valid JSON'):
        VideoBoxTrackingDataset(ann_file=str(path), pipeline=[])


def test_other_window_length(tracking_set):
    with pytest.raises(ValueError, match=r'expected 8 frame indices >= 0 '
                       r'\(num_frames=8\)'):
        dataset(tracking_set, num_frames=8)
