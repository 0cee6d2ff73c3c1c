"""VideoDepthDataset: sliding windows over the layout, and errors that name
the file for every broken input."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from mmivnext.datasets import VideoDepthDataset
from mmivnext.datasets.video_depth_dataset import window_starts
from mmivnext.testing import make_synthetic_depth_sequences

NUM_FRAMES = 12


@pytest.fixture
def depth_root(tmp_path):
    """4 train + 2 val synthetic sequences of 12 frames (a fresh copy per
    test, which may damage it)."""
    return make_synthetic_depth_sequences(str(tmp_path / 'depth'),
                                          num_frames=NUM_FRAMES)


def dataset(root, clip_len=4, stride=2, ann_file='train.txt', **kwargs):
    return VideoDepthDataset(ann_file=ann_file, clip_len=clip_len,
                             stride=stride, depth_scale=1000.,
                             pipeline=[], data_root=root, **kwargs)


@pytest.mark.parametrize('num_frames, clip_len, stride, cover_end, expected', [
    (12, 4, 5, True, [0, 5, 8]),
    (12, 4, 5, False, [0, 5]),
    (13, 4, 3, True, [0, 3, 6, 9]),  # the regular windows reach the end
    (4, 4, 1, True, [0]),
    # The paper's settings: KITTI 32 / 10 on 100 frames, ScanNet 16 / 5 on 50.
    (100, 32, 10, True, [0, 10, 20, 30, 40, 50, 60, 68]),
    (50, 16, 5, True, [0, 5, 10, 15, 20, 25, 30, 34]),
])
def test_window_starts(num_frames, clip_len, stride, cover_end, expected):
    assert window_starts(num_frames, clip_len, stride, cover_end) == expected


def test_window_starts_refuses_too_short_sequences():
    with pytest.raises(ValueError, match='3 frames do not fit a window of 4'):
        window_starts(3, 4, 1)


def test_windows_count_stride_and_paths(depth_root):
    root = depth_root['root']
    ds = dataset(root, clip_len=4, stride=3)
    # 12 frames: starts 0, 3, 6 and 8 (covering the end) per sequence.
    assert len(ds) == 4 * 4
    info = ds.get_data_info(1)
    assert info['sequence'] == 'train/seq_000'
    assert info['window_start'] == 3
    assert info['frame_ids'] == ['000003', '000004', '000005', '000006']
    assert info['img_paths'][0] == osp.join(root, 'train/seq_000/rgb/000003.png')
    assert info['depth_paths'][-1] == osp.join(
        root, 'train/seq_000/depth/000006.png')
    assert info['depth_scale'] == 1000.
    assert [ds.get_data_info(i)['window_start'] for i in range(4)] == [
        0, 3, 6, 8]
    assert ds.get_data_info(4)['sequence'] == 'train/seq_001'
    assert len(dataset(root, clip_len=4, stride=3, cover_end=False)) == 4 * 3
    assert len(dataset(root, ann_file='val.txt', clip_len=12, stride=5)) == 2


def test_missing_depth_map_is_named(depth_root):
    root = depth_root['root']
    missing = osp.join(root, 'train/seq_001/depth/000007.png')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match='000007.png') as err:
        dataset(root)
    assert 'train/seq_001' in str(err.value)


def test_depth_map_without_frame_is_named(depth_root):
    root = depth_root['root']
    os.remove(osp.join(root, 'train/seq_002/rgb/000000.png'))
    with pytest.raises(FileNotFoundError, match='have no RGB frame') as err:
        dataset(root)
    assert 'seq_002/depth/000000.png' in str(err.value)


def test_too_short_sequence_is_named(depth_root):
    with pytest.raises(ValueError, match='seq_000.*12 frames, fewer than '
                       'clip_len=16'):
        dataset(depth_root['root'], clip_len=16)


def test_missing_folders_and_list_errors(depth_root, tmp_path):
    root = depth_root['root']
    shutil.rmtree(osp.join(root, 'train/seq_003/depth'))
    with pytest.raises(FileNotFoundError, match='seq_003/depth'):
        dataset(root)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        dataset(root, ann_file='nope.txt')
    lists = {'dup.txt': 'val/seq_000\n\nval/seq_000\n',
             'two.txt': 'val/seq_000 val/seq_001\n',
             'empty.txt': '\n'}
    for name, text in lists.items():
        (tmp_path / 'depth' / name).write_text(text)
    with pytest.raises(ValueError, match=r'dup.txt:3: .*already listed on '
                       'line 1'):
        dataset(root, ann_file='dup.txt')
    with pytest.raises(ValueError, match='two.txt:1: expected one sequence'):
        dataset(root, ann_file='two.txt')
    with pytest.raises(ValueError, match='lists no sequences'):
        dataset(root, ann_file='empty.txt')


def test_unexpected_and_ambiguous_files_are_named(depth_root):
    root = depth_root['root']
    stray = osp.join(root, 'val/seq_000/rgb/notes.txt')
    with open(stray, 'w') as f:
        f.write('x')
    with pytest.raises(ValueError, match='unexpected file .*notes.txt'):
        dataset(root, ann_file='val.txt')
    os.remove(stray)
    frame = cv2.imread(osp.join(root, 'val/seq_000/rgb/000001.png'))
    cv2.imwrite(osp.join(root, 'val/seq_000/rgb/000001.jpg'), frame)
    with pytest.raises(ValueError, match="frame '000001' appears twice"):
        dataset(root, ann_file='val.txt')


def test_bad_arguments():
    with pytest.raises(ValueError, match='depth_scale must be > 0'):
        VideoDepthDataset('a.txt', clip_len=4, stride=1, depth_scale=0,
                          pipeline=[], data_root='x', lazy_init=True)
    with pytest.raises(ValueError, match='clip_len and stride must be >= 1'):
        VideoDepthDataset('a.txt', clip_len=4, stride=0, depth_scale=1,
                          pipeline=[], data_root='x', lazy_init=True)


def test_jpeg_frames_and_nested_names(tmp_path):
    paths = make_synthetic_depth_sequences(
        str(tmp_path), num_train=1, num_val=1, num_frames=5, rgb_ext='.jpg')
    ds = dataset(paths['root'], clip_len=5, stride=1)
    assert len(ds) == 1
    assert ds.get_data_info(0)['img_paths'][0].endswith(
        'train/seq_000/rgb/000000.jpg')
    assert np.all([osp.isfile(p) for p in ds.get_data_info(0)['depth_paths']])
