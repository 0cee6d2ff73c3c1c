"""SampleSlidingWindows: windows covering the video, one clip each."""
import numpy as np
import pytest

from mmivnext.datasets.transforms import SampleSlidingWindows, sliding_windows


@pytest.mark.parametrize('total,window,stride,expected', [
    (40, 16, 8, [[0, 16], [8, 24], [16, 32], [24, 40]]),
    (32, 16, 16, [[0, 16], [16, 32]]),
    # The tail is covered by one more window ending on the last frame.
    (37, 16, 16, [[0, 16], [16, 32], [21, 37]]),
    (10, 16, 8, [[0, 10]]),  # shorter than a window
    (16, 16, 4, [[0, 16]]),
])
def test_sliding_windows(total, window, stride, expected):
    windows = sliding_windows(total, window, stride)
    assert windows.dtype == np.int64
    assert windows.tolist() == expected


def test_clip_per_window():
    results = SampleSlidingWindows(window=8, stride=8, clip_len=4)(
        dict(total_frames=20, avg_fps=4.0))
    # Windows [0, 8), [8, 16), [12, 20): the segment centres of each.
    assert results['frame_inds'].tolist() == [1, 3, 5, 7, 9, 11, 13, 15,
                                              13, 15, 17, 19]
    assert (results['num_clips'], results['clip_len']) == (3, 4)
    assert results['frame_interval'] is None
    np.testing.assert_array_equal(results['window_seconds'],
                                  [[0, 2], [2, 4], [3, 5]])
    # A window as long as the clip gives consecutive frames.
    same = SampleSlidingWindows(window=4, stride=2, clip_len=4)(
        dict(total_frames=6, avg_fps=1.0))
    assert same['frame_inds'].tolist() == [0, 1, 2, 3, 2, 3, 4, 5]
    # A video shorter than the clip repeats frames.
    short = SampleSlidingWindows(window=8, stride=8, clip_len=4)(
        dict(total_frames=2, avg_fps=1.0))
    assert short['frame_inds'].tolist() == [0, 0, 1, 1]


def test_errors():
    with pytest.raises(ValueError, match='stride must be >= 1, got 0'):
        SampleSlidingWindows(window=8, stride=0, clip_len=4)
    with pytest.raises(ValueError, match='a.mp4: the video reports 0.0 fps'):
        SampleSlidingWindows(8, 8, 4)(dict(total_frames=9, avg_fps=0,
                                           filename='a.mp4'))
    with pytest.raises(ValueError, match='the video has 0 frames'):
        sliding_windows(0, 8, 8)
    assert repr(SampleSlidingWindows(8, 4, 2)) == \
        'SampleSlidingWindows(window=8, stride=4, clip_len=2)'
