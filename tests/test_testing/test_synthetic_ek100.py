"""make_synthetic_ek100: EK100-format files whose future action is visible in
the context, deterministic by seed."""
import filecmp
import os.path as osp

import decord
import numpy as np
import pytest

from mmivnext.datasets import load_action_map, read_ek100_csv
from mmivnext.testing import make_synthetic_ek100
from mmivnext.testing.synthetic_ek100 import (NUM_SYNTHETIC_ACTIONS,
                                              SYNTHETIC_VERBS)

ARGS = dict(num_train_videos=3, num_val_videos=1, events_per_video=4,
            size=56, fps=8.0, seed=3)
#: Unit motion (x, y) in image coordinates of each verb.
MOTION = {'reach-left': (-1, 0), 'reach-right': (1, 0),
          'reach-top': (0, -1), 'reach-bottom': (0, 1)}


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    return make_synthetic_ek100(str(tmp_path_factory.mktemp('syn_a')),
                                **ARGS)


def test_layout_and_labels(written):
    rows = read_ek100_csv(written['train_csv'])
    assert len(rows) == 12
    # Events cycle through the 12 (verb, noun) pairs.
    assert sorted((r['verb'], r['noun']) for r in rows) == [
        (v, n) for v in range(4) for n in range(3)]
    assert len(load_action_map(written['actions_csv'])) == \
        NUM_SYNTHETIC_ACTIONS
    first = rows[0]
    assert (first['start_sec'], first['stop_sec']) == (3., 4.)
    for r in rows + read_ek100_csv(written['val_csv']):
        path = osp.join(written['video_root'], r['participant_id'],
                        'videos', f'{r["video_id"]}.MP4')
        assert osp.isfile(path)
    reader = decord.VideoReader(path)
    assert reader.get_avg_fps() == pytest.approx(8.)
    assert len(reader) == int(8 * (0.5 + 4 * 4))  # lead-in + 4 events


def test_same_seed_same_files(written, tmp_path):
    again = make_synthetic_ek100(str(tmp_path), **ARGS)
    for key in ('train_csv', 'val_csv', 'actions_csv'):
        assert filecmp.cmp(written[key], again[key], shallow=False)
    video = osp.join('P01', 'videos', 'P01_02.MP4')
    a = decord.VideoReader(osp.join(written['video_root'], video))
    b = decord.VideoReader(osp.join(again['video_root'], video))
    np.testing.assert_array_equal(a.get_batch([0, 20]).asnumpy(),
                                  b.get_batch([0, 20]).asnumpy())


def shape_centre(frame):
    """Centroid (x, y) of the pixels far from the frame's median colour."""
    distance = np.abs(frame.astype(np.float32) -
                      np.median(frame, axis=(0, 1))).sum(-1)
    ys, xs = np.nonzero(distance > 90)
    return xs.mean(), ys.mean()


def test_the_context_shows_where_the_shape_is_going(written):
    """In the 1.5 s before the 1-s anticipation gap, the shape moves in the
    direction of the verb, by several pixels."""
    fps = 8.
    for r in read_ek100_csv(written['train_csv']):
        reader = decord.VideoReader(osp.join(
            written['video_root'], r['participant_id'], 'videos',
            f'{r["video_id"]}.MP4'))
        end = r['start_sec'] - 1.
        frames = reader.get_batch([int((end - 1.5) * fps),
                                   int(end * fps) - 1]).asnumpy()
        (x0, y0), (x1, y1) = (shape_centre(f) for f in frames)
        mx, my = MOTION[SYNTHETIC_VERBS[r['verb']]]
        along = (x1 - x0) * mx + (y1 - y0) * my
        across = abs((x1 - x0) * my) + abs((y1 - y0) * mx)
        assert along > 8 and across < 3, (r['narration_id'], x0, y0, x1, y1)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='one video'):
        make_synthetic_ek100(str(tmp_path), num_val_videos=0)
    with pytest.raises(ValueError, match='size'):
        make_synthetic_ek100(str(tmp_path), size=16)
