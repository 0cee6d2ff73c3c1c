"""SampleFramesByTime: seconds to frame indices."""
import numpy as np
import pytest

from mmivnext.datasets.transforms import SampleFramesByTime


def results(times, fps=30., total=300):
    return dict(frame_times=times, avg_fps=fps, total_frames=total,
                filename='v.MP4')


def test_frame_at_a_time_is_the_one_shown_then():
    out = SampleFramesByTime()(results([0., 0.1, 1 / 3, 0.34, 9.99]))
    # 1/3 s * 30 fps is 10 up to float error: frame 10, not 9.
    np.testing.assert_array_equal(out['frame_inds'], [0, 3, 10, 10, 299])
    assert out['frame_inds'].dtype == np.int64
    assert (out['clip_len'], out['num_clips'], out['frame_interval']) == (
        5, 1, None)


def test_times_outside_the_video_are_refused():
    with pytest.raises(ValueError, match=r'v.MP4: frame time 10.000 s is '
                       r'frame 300, but the video has 300 frames'):
        SampleFramesByTime()(results([9., 10.]))
    with pytest.raises(ValueError, match='>= 0'):
        SampleFramesByTime()(results([-0.5, 1.]))
    with pytest.raises(KeyError, match='avg_fps'):
        SampleFramesByTime()(dict(frame_times=[0.], total_frames=3))
    with pytest.raises(ValueError, match='non-empty'):
        SampleFramesByTime()(results([]))


def test_repr():
    assert repr(SampleFramesByTime()) == 'SampleFramesByTime()'
