"""The synthetic demo set: real mp4 files that decord reads, reproducible, and
labelled by what the decoded video shows."""
import importlib.util
import os
import os.path as osp

import decord
import numpy as np
import pytest

from mmivnext.testing import DEMO_CLASSES, make_demo_videos, render_demo_clip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Image coordinates, y down; written out here rather than read from the module,
# so that a wrong table there fails the test.
DIRECTIONS = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}


def _read_list(list_file):
    with open(list_file) as f:
        return [(path, int(label)) for path, label in map(str.split, f)]


def _decode(path):
    reader = decord.VideoReader(path)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _decode_set(paths):
    return {
        rel: _decode(osp.join(paths['root'], rel))
        for split in ('train_list', 'val_list')
        for rel, _ in _read_list(paths[split])
    }


def _shape_masks(frames):
    """Pixels far from each frame's median colour: the moving shape.

    The background is one colour plus noise of std ~10, the shape differs by
    at least 80 grey levels in every channel, so a distance of 70 separates
    them. Returns ``[T, H, W]`` bool.
    """
    frames = frames.astype(np.float32)
    background = np.median(frames.reshape(len(frames), -1, 3), axis=1)
    return np.linalg.norm(frames - background[:, None, None], axis=-1) > 70


def test_layout_lists_and_classes(demo_videos, demo_videos_args):
    root = demo_videos['root']
    assert demo_videos['train_list'] == osp.join(root, 'train.txt')
    assert demo_videos['val_list'] == osp.join(root, 'val.txt')
    with open(demo_videos['classes_file']) as f:
        assert tuple(f.read().split()) == DEMO_CLASSES
    assert len(DEMO_CLASSES) == 12
    for split, count in (('train', demo_videos_args['num_train']),
                         ('val', demo_videos_args['num_val'])):
        entries = _read_list(demo_videos[f'{split}_list'])
        assert entries == [(f'{split}/video_{i:05d}.mp4', i % 12)
                           for i in range(count)]
        assert sorted(os.listdir(osp.join(root, split))) == [
            osp.basename(path) for path, _ in entries]


def test_videos_decode_with_decord(demo_videos, demo_videos_args):
    size, num_frames = demo_videos_args['size'], demo_videos_args['num_frames']
    for rel, _ in _read_list(demo_videos['val_list']):
        reader = decord.VideoReader(osp.join(demo_videos['root'], rel))
        assert len(reader) == num_frames
        assert reader.get_avg_fps() == pytest.approx(demo_videos_args['fps'])
        frames = reader.get_batch(list(range(num_frames))).asnumpy()
        assert frames.shape == (num_frames, size, size, 3)
        assert frames.dtype == np.uint8


def test_same_seed_gives_identical_frames(demo_videos, demo_videos_args,
                                          tmp_path):
    again = make_demo_videos(str(tmp_path / 'again'), **demo_videos_args)
    first, second = _decode_set(demo_videos), _decode_set(again)
    assert first.keys() == second.keys()
    for rel in first:
        np.testing.assert_array_equal(first[rel], second[rel], err_msg=rel)
    # The rendered frames themselves are identical, and differ with the seed.
    clip = render_demo_clip(5, 8, 32, np.random.default_rng([0, 0, 5]))
    np.testing.assert_array_equal(
        clip, render_demo_clip(5, 8, 32, np.random.default_rng([0, 0, 5])))
    assert not np.array_equal(
        clip, render_demo_clip(5, 8, 32, np.random.default_rng([1, 0, 5])))


def test_a_smaller_set_is_the_start_of_a_larger_one(demo_videos,
                                                    demo_videos_args,
                                                    tmp_path):
    args = dict(demo_videos_args, num_train=2, num_val=1)
    smaller = _decode_set(make_demo_videos(str(tmp_path / 'small'), **args))
    first = _decode_set(demo_videos)
    assert sorted(smaller) == ['train/video_00000.mp4',
                               'train/video_00001.mp4', 'val/video_00000.mp4']
    for rel, frames in smaller.items():
        np.testing.assert_array_equal(frames, first[rel], err_msg=rel)


def test_other_seed_gives_other_videos(demo_videos, demo_videos_args,
                                       tmp_path):
    args = dict(demo_videos_args, seed=1, num_train=2, num_val=1)
    other = _decode_set(make_demo_videos(str(tmp_path / 'other'), **args))
    first = _decode_set(demo_videos)
    for rel, frames in other.items():
        assert not np.array_equal(frames, first[rel]), rel


def test_labels_match_the_motion_and_shape_in_the_decoded_video(
        demo_videos, demo_videos_args):
    """The class is (shape, direction): the shape's centroid moves in the
    labelled direction, and the fraction of its bounding box it fills says
    which shape it is (square ~1, circle ~pi/4, triangle ~1/2)."""
    size = demo_videos_args['size']
    for split in ('train_list', 'val_list'):
        for rel, label in _read_list(demo_videos[split]):
            shape, direction = DEMO_CLASSES[label].split('_')
            masks = _shape_masks(_decode(osp.join(demo_videos['root'], rel)))
            centroids, fills = [], []
            for mask in masks:
                ys, xs = np.nonzero(mask)
                assert len(xs) > 20, f'{rel}: no shape found'
                centroids.append((xs.mean(), ys.mean()))
                box = (np.ptp(xs) + 1) * (np.ptp(ys) + 1)
                fills.append(len(xs) / box)
            dx, dy = np.subtract(centroids[-1], centroids[0])
            expected = DIRECTIONS[direction]
            along, across = ((dx, dy) if expected[0] else (dy, dx))
            sign = expected[0] or expected[1]
            assert sign * along > 0.25 * size, (rel, direction, dx, dy)
            assert abs(across) < 2, (rel, direction, dx, dy)
            fill = np.median(fills)
            seen = ('square' if fill > 0.88 else
                    'circle' if fill > 0.66 else 'triangle')
            assert seen == shape, (rel, shape, fill)


def test_sizes_decord_cannot_decode_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match='decord cannot decode .*48'):
        make_demo_videos(str(tmp_path), num_train=1, num_val=0,
                         num_frames=4, size=48)


def test_render_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='label must be in'):
        render_demo_clip(12, 8, 32, rng)
    with pytest.raises(ValueError, match='size >= 16'):
        render_demo_clip(0, 8, 8, rng)


def test_cli_writes_the_set(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'make_demo_videos_cli',
        osp.join(REPO, 'tools', 'data', 'make_demo_videos.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.parse_args([]).out_dir == 'data/demo_videos'
    out = tmp_path / 'cli'
    cli.main(['--out-dir', str(out), '--num-train', '3', '--num-val', '2',
              '--num-frames', '6', '--size', '32', '--fps', '5', '--seed',
              '3'])
    assert _read_list(out / 'train.txt') == [
        (f'train/video_{i:05d}.mp4', i) for i in range(3)]
    assert len(_read_list(out / 'val.txt')) == 2
    reader = decord.VideoReader(str(out / 'val' / 'video_00001.mp4'))
    assert (len(reader), reader[0].shape) == (6, (32, 32, 3))
    assert reader.get_avg_fps() == pytest.approx(5)
    # The CLI is a thin layer: the same arguments give the same frames.
    direct = make_demo_videos(str(tmp_path / 'direct'), 3, 2, 6, 32, 5, 3)
    np.testing.assert_array_equal(
        _decode(str(out / 'train' / 'video_00002.mp4')),
        _decode(osp.join(direct['root'], 'train', 'video_00002.mp4')))
