"""The synthetic tracking set: layout, determinism, boxes on the shapes."""
import json
import os.path as osp

import cv2
import numpy as np

from mmivnext.datasets.tracking_windows import load_frame_annotations
from mmivnext.testing.synthetic_tracking import (make_synthetic_tracking,
                                                 render_tracking_sequence)

ARGS = dict(num_train=2, num_val=1, num_frames=16, size=40, max_objects=2)


def test_layout_and_determinism(tmp_path):
    a = make_synthetic_tracking(str(tmp_path / 'a'), seed=3, **ARGS)
    b = make_synthetic_tracking(str(tmp_path / 'b'), seed=3, **ARGS)
    c = make_synthetic_tracking(str(tmp_path / 'c'), seed=4, **ARGS)
    sequences = load_frame_annotations(a['train_annotations'])
    assert [s['name'] for s in sequences] == ['train_0000', 'train_0001']
    assert sequences[0]['frame_size'] == (40, 40)
    assert sequences[0]['fps'] == 5.0 and len(sequences[0]['frames']) == 16
    first = osp.join(a['frames_root'], 'val_0000', '000015.jpg')
    assert cv2.imread(first).shape == (40, 40, 3)

    def read(paths, key):
        return json.load(open(paths[key]))
    assert read(a, 'train_annotations') == read(b, 'train_annotations')
    assert read(a, 'train_annotations') != read(c, 'train_annotations')
    same = osp.join(b['frames_root'], 'val_0000', '000015.jpg')
    assert (cv2.imread(first) == cv2.imread(same)).all()


def test_boxes_enclose_the_drawn_shape():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        frames, boxes = render_tracking_sequence(8, 48, 1, rng)
        for frame, objects in zip(frames, boxes):
            if not objects:  # the object vanished in this frame
                continue
            # The shape's colour is far from the background's.
            diff = np.abs(frame.astype(int) - np.median(
                frame.reshape(-1, 3), axis=0)).sum(-1)
            ys, xs = np.nonzero(diff > 200)
            drawn = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            np.testing.assert_allclose(drawn, objects[0]['box'], atol=1.5)


def test_objects_move_and_stay_inside():
    rng = np.random.default_rng(0)
    _, boxes = render_tracking_sequence(20, 56, 3, rng)
    tracks = {}
    for objects in boxes:
        for obj in objects:
            assert 0 <= obj['box'][0] < obj['box'][2] <= 56
            assert 0 <= obj['box'][1] < obj['box'][3] <= 56
            tracks.setdefault(obj['track_id'], []).append(obj['box'])
    assert all(np.ptp(np.array(t)[:, 0]) > 2 for t in tracks.values())
