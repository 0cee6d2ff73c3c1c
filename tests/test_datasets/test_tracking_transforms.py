"""LoadTrackingFrames, ResizeTrackingClip and PackTrackingInputs."""
import cv2
import numpy as np
import pytest
import torch

from mmivnext.datasets.transforms import (LoadTrackingFrames,
                                          PackTrackingInputs,
                                          ResizeTrackingClip)


def write_frames(tmp_path, count=3, size=(40, 20)):
    """Frames of ``size = (W, H)``: red (RGB) left half, blue right half."""
    width, height = size
    paths = []
    for k in range(count):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[:, :width // 2] = (255, 0, 0)
        rgb[:, width // 2:] = (0, 0, 255)
        path = str(tmp_path / f'{k:06d}.png')
        cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def window(paths, boxes=None):
    boxes = np.array(boxes if boxes is not None else
                     [[[4., 2., 20., 10.]] * len(paths)], np.float32)
    return dict(frame_paths=paths, gt_boxes=boxes,
                gt_visible=np.ones(boxes.shape[:2], bool), window_index=5,
                sequence='seq')


def test_load_reads_rgb_frames(tmp_path):
    results = LoadTrackingFrames()(window(write_frames(tmp_path)))
    assert len(results['imgs']) == 3
    assert results['img_shape'] == results['ori_shape'] == (20, 40)
    assert tuple(results['imgs'][0][0, 0]) == (255, 0, 0)  # RGB order
    assert tuple(results['imgs'][0][0, -1]) == (0, 0, 255)


def test_load_refuses_boxes_outside_the_frames(tmp_path):
    paths = write_frames(tmp_path)
    boxes = [[[4., 2., 20., 10.], [4., 2., 42., 10.], [4., 2., 20., 10.]]]
    with pytest.raises(ValueError, match=r"window 5 \(sequence 'seq'\): "
                       r'object 0 .* in frame 1, outside the 40x20 frame'):
        LoadTrackingFrames()(window(paths, boxes))
    # Within the tolerance, and where not visible, boxes pass.
    LoadTrackingFrames(box_tolerance=2.)(window(paths, boxes))
    results = window(paths, boxes)
    results['gt_visible'][0, 1] = False
    LoadTrackingFrames()(results)


def test_load_names_a_missing_frame(tmp_path):
    paths = write_frames(tmp_path)
    paths[1] = str(tmp_path / 'gone.png')
    with pytest.raises(FileNotFoundError, match=r"gone.png' of window 5"):
        LoadTrackingFrames()(window(paths))


def test_resize_scales_boxes_per_axis(tmp_path):
    results = LoadTrackingFrames()(window(write_frames(tmp_path)))
    results = ResizeTrackingClip(scale=(20, 40))(results)  # W 40->20, H 20->40
    assert results['imgs'][0].shape == (40, 20, 3)
    assert results['img_shape'] == (40, 20)
    assert results['scale_factor'] == (0.5, 2.0)
    np.testing.assert_allclose(results['gt_boxes'][0, 0], [2., 4., 10., 20.])
    assert results['gt_boxes'].dtype == np.float32


def test_pack_normalises_boxes(tmp_path):
    results = LoadTrackingFrames()(window(write_frames(tmp_path)))
    results = ResizeTrackingClip(scale=16)(results)
    packed = PackTrackingInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 3, 16, 16) and inputs.dtype == torch.uint8
    assert inputs[0, 0, 0, 0] == 255 and inputs[2, 0, 0, 0] == 0  # R, B
    torch.testing.assert_close(
        sample.gt_boxes[0, 0], torch.tensor([0.1, 0.1, 0.5, 0.5]))
    assert sample.gt_visible.dtype == torch.bool
    assert sample.metainfo['window_index'] == 5
    assert sample.metainfo['img_shape'] == (16, 16)


def test_pack_needs_the_boxes(tmp_path):
    results = LoadTrackingFrames()(window(write_frames(tmp_path)))
    del results['gt_visible']
    with pytest.raises(KeyError, match=r"\['gt_visible'\]"):
        PackTrackingInputs()(results)


def test_reprs_and_arguments():
    assert repr(ResizeTrackingClip(scale=224)) == \
        "ResizeTrackingClip(scale=(224, 224), interpolation='bilinear')"
    assert repr(LoadTrackingFrames()) == \
        'LoadTrackingFrames(box_tolerance=1.0, backend_args=None)'
    assert repr(PackTrackingInputs(meta_keys=('sequence', ))) == \
        "PackTrackingInputs(meta_keys=('sequence',))"
    with pytest.raises(ValueError, match='interpolation'):
        ResizeTrackingClip(scale=8, interpolation='lanczos5')
