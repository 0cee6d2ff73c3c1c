"""The window rules of the tracking benchmark (paper appendix A.4), one test
per rule on hand-made sequences: each fails if its rule is dropped."""
import json
import re

import numpy as np
import pytest

from mmivnext.datasets.tracking_windows import (CropGeometry, WindowRules,
                                                build_sequence_windows,
                                                build_windows, check_window,
                                                load_frame_annotations)

BIG = [10., 10., 50., 50.]  # 16% of a 100 x 100 frame


def sequence(presence, fps=5., size=(100, 100), boxes=None):
    """A sequence whose object ``tid`` has the box ``boxes[tid]`` (default
    ``BIG``) in the frames where ``presence[tid]`` is true."""
    length = len(next(iter(presence.values()))) if presence else 16
    frames = [[(tid, (boxes or {}).get(tid, BIG)) for tid, flags in
               presence.items() if flags[k]] for k in range(length)]
    return dict(name='seq', fps=fps, frame_size=size, frames=frames)


def flags(length=16, missing=()):
    return [k not in missing for k in range(length)]


RULES = WindowRules(resize_short=100, crop_size=100)


def starts(windows):
    return [w['frames'][0] for w in windows]


# ------------------------------------------------------------ 1. frame rate
def test_rule_downsample_10_to_5_fps_keeps_every_second_frame():
    # The object is only annotated on even frames of a 10 fps sequence: at
    # 5 fps it is always visible; without downsampling it would miss half.
    seq = sequence({'a': [k % 2 == 0 for k in range(32)]}, fps=10.)
    windows = build_sequence_windows(seq, RULES)
    assert [w['frames'] for w in windows] == [list(range(0, 32, 2))]
    assert windows[0]['objects'][0]['visible'] == [True] * 16


def test_frame_rate_must_divide():
    with pytest.raises(ValueError, match='cannot downsample 12.0 fps'):
        build_sequence_windows(sequence({'a': flags(32)}, fps=12.), RULES)


# --------------------------------------------------------------- 2. boxes
def test_rule_boxes_map_to_the_resized_centre_crop():
    # 400 x 200 -> short side 100 -> 200 x 100, crop x in [50, 150).
    rules = WindowRules(resize_short=100, crop_size=100)
    seq = sequence({'a': flags(), 'b': flags()}, size=(400, 200),
                   boxes={'a': [150., 20., 250., 120.],
                          'b': [20., 0., 120., 40.]})
    (window, ) = build_sequence_windows(seq, rules)
    a, b = window['objects']
    assert a['boxes'][0] == [25., 10., 75., 60.]
    assert b['boxes'][0] == [0., 0., 10., 20.]  # clipped to the crop
    geometry = CropGeometry.create(400, 200, 100, (100, 100))
    assert (geometry.offset_x, geometry.offset_y) == (50, 0)


def test_rule_boxes_under_half_a_percent_are_dropped():
    # 100 x 100 crop: 0.5% = 50 px^2. A 7 x 7 box (49) is dropped, so the
    # object is not visible in that frame; a 7.1 x 7.1 box (50.4) is kept.
    seq = sequence({'a': flags()})
    seq['frames'][5] = [('a', [0., 0., 7., 7.])]
    seq['frames'][6] = [('a', [0., 0., 7.1, 7.1])]
    (window, ) = build_sequence_windows(seq, RULES)
    assert window['objects'][0]['visible'] == flags(missing=(5, ))
    assert window['objects'][0]['boxes'][5] == [0., 0., 0., 0.]


# ------------------------------------------------------------ 3. windows
def test_rule_window_starts_at_least_three_frames_apart():
    windows = build_sequence_windows(sequence({'a': flags(24)}), RULES)
    assert starts(windows) == [0, 3, 6]
    assert all(len(w['frames']) == 16 for w in windows)


def test_start_gap_counts_from_the_last_window_taken():
    # No object in frame 0: the first window starts at 1, then 4 and 7.
    windows = build_sequence_windows(
        sequence({'a': flags(24, missing=(0, ))}), RULES)
    assert starts(windows) == [1, 4, 7]


# ------------------------------------------------------------ 4. objects
@pytest.mark.parametrize('count, taken', [(0, False), (1, True), (25, True),
                                          (26, False)])
def test_rule_one_to_25_first_frame_objects(count, taken):
    seq = sequence({f'o{i}': flags() for i in range(count)})
    if count == 0:
        seq['frames'] = [[] for _ in range(16)]
    stats = {}
    windows = build_sequence_windows(seq, RULES, stats)
    assert bool(windows) == taken
    assert stats.get('num_objects', 0) == (0 if taken else 1)


def test_objects_entering_later_are_not_tracked():
    seq = sequence({'a': flags(), 'late': flags(missing=(0, 1, 2))})
    (window, ) = build_sequence_windows(seq, RULES)
    assert [o['track_id'] for o in window['objects']] == ['a']


def test_rule_each_object_in_70_percent_of_frames():
    # 11 of 16 frames (68.75%), in short gaps: only the presence rule fails.
    stats = {}
    assert not build_sequence_windows(
        sequence({'a': flags(missing=(2, 5, 8, 11, 14))}), RULES, stats)
    assert stats['presence'] == 1
    assert build_sequence_windows(  # 12 of 16 (75%)
        sequence({'a': flags(missing=(2, 5, 8, 11))}), RULES)


def test_rule_all_objects_together_in_10_frames():
    # Each object is in 12 of 16 frames, with gaps of 4, but together only
    # in 8 frames.
    stats = {}
    assert not build_sequence_windows(sequence({
        'a': flags(missing=(1, 2, 3, 4)),
        'b': flags(missing=(8, 9, 10, 11))}), RULES, stats)
    assert stats['cooccurrence'] == 1
    assert build_sequence_windows(sequence({  # together in 10 frames
        'a': flags(missing=(1, 2, 3)), 'b': flags(missing=(8, 9, 10))}),
        RULES)


@pytest.mark.parametrize('missing, taken', [
    (range(5, 11), False),  # 6 in a row
    (range(10, 16), False),  # 6 in a row up to the window's end
    (range(5, 10), True),  # 5 in a row
    ((3, 4, 5, 9, 10, 11), True),  # 6 missing, in two runs of 3
])
def test_rule_missing_gap_at_most_5_frames(missing, taken):
    # At 70% presence no 16-frame window can miss 6 frames, so this rule
    # only matters at a lower ratio: 10 of 16 frames present is 62.5%.
    rules = WindowRules(resize_short=100, crop_size=100,
                        min_presence_ratio=0.6)
    stats = {}
    windows = build_sequence_windows(
        sequence({'a': flags(missing=tuple(missing))}), rules, stats)
    assert bool(windows) == taken
    assert stats.get('missing_gap', 0) == (0 if taken else 1)


def test_check_window_reports_the_first_rule_broken():
    visible = np.ones((2, 16), bool)
    assert check_window(visible, RULES) is None
    visible[1, 1:6] = False  # 11 of 16, gap 5
    assert check_window(visible, RULES) == 'presence'


# --------------------------------------------------------------- files
def write(tmp_path, data):
    path = tmp_path / 'annotations.json'
    path.write_text(json.dumps(data))
    return str(path)


def good_file_data():
    def box():
        return dict(track_id=7, box=[1, 2, 30, 40])
    return dict(sequences=[dict(name='s0', fps=10, frame_size=[64, 48],
                                frames=[[box()], [box()], []])])


def test_load_frame_annotations(tmp_path):
    (seq, ) = load_frame_annotations(write(tmp_path, good_file_data()))
    assert seq['name'] == 's0' and seq['fps'] == 10.
    assert seq['frame_size'] == (64, 48)
    assert seq['frames'][0] == [('7', [1., 2., 30., 40.])]
    assert seq['frames'][2] == []


@pytest.mark.parametrize('edit, key', [
    (lambda d: d['sequences'][0].pop('fps'), r"sequences\[0\]: missing"),
    (lambda d: d['sequences'][0].update(frame_size=[64]),
     r'sequences\[0\]\.frame_size'),
    (lambda d: d['sequences'][0]['frames'][1][0].update(box=[5, 2, 4, 40]),
     r'sequences\[0\]\.frames\[1\]\[0\]\.box'),
    (lambda d: d['sequences'][0]['frames'][1].append(
        dict(track_id='7', box=[0, 0, 1, 1])),
     r'sequences\[0\]\.frames\[1\]\[1\]\.track_id: .* twice'),
    (lambda d: d['sequences'].append(dict(d['sequences'][0])),
     r'sequences\[1\]\.name'),
])
def test_bad_annotations_name_file_and_key(tmp_path, edit, key):
    data = good_file_data()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(ValueError, match=f'{re.escape(path)}: {key}'):
        load_frame_annotations(path)


def test_build_windows_counts(tmp_path):
    sequences = [sequence({'a': flags(22)}), sequence({})]
    sequences[1]['name'] = 'empty'
    sequences[1]['frames'] = [[] for _ in range(16)]
    windows, stats = build_windows(sequences, RULES)
    assert len(windows) == 3  # starts 0, 3, 6 of the first sequence
    assert stats == dict(sequences=2, candidates=4, windows=3, num_objects=1,
                         presence=0, cooccurrence=0, missing_gap=0)


def test_rules_are_checked():
    with pytest.raises(ValueError, match='min_cooccurrence=20'):
        WindowRules(min_cooccurrence=20)
    with pytest.raises(ValueError, match='crop'):
        CropGeometry.create(100, 50, 50, (60, 60))
