"""Depth transforms: loading in metres, one geometry for RGB and depth,
nearest-neighbour depth, packing, and errors that name the file."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmivnext.datasets.transforms import (CropVideoDepth, FlipVideoDepth,
                                          LoadVideoDepthWindow,
                                          PackVideoDepthInputs,
                                          ResizeVideoDepth)


def write_window(folder, depth_values, rgb_size=None, depth_dtype=np.uint16):
    """Write frames whose red channel is the column index and green the row
    index, and the given depth maps; return the loader's input dict."""
    img_paths, depth_paths = [], []
    for t, depth in enumerate(depth_values):
        h, w = rgb_size or depth.shape
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0] = np.arange(w)[None, :]
        rgb[..., 1] = np.arange(h)[:, None]
        rgb[..., 2] = t
        img_paths.append(osp.join(folder, f'{t}.png'))
        depth_paths.append(osp.join(folder, f'{t}_depth.png'))
        cv2.imwrite(img_paths[-1], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(depth_paths[-1], depth.astype(depth_dtype))
    return dict(sequence='seq', img_paths=img_paths, depth_paths=depth_paths,
                depth_scale=256.)


def loaded(tmp_path, T=2, h=6, w=8):
    rng = np.random.default_rng(0)
    depth = rng.integers(0, 5000, (T, h, w))
    depth[:, 0, 0] = 0  # an invalid pixel
    return LoadVideoDepthWindow()(write_window(str(tmp_path), depth)), depth


def test_load_gives_rgb_and_metres(tmp_path):
    results, raw = loaded(tmp_path)
    imgs, depth = results['imgs'], results['gt_depth']
    assert imgs.shape == (2, 6, 8, 3) and imgs.dtype == np.uint8
    assert depth.shape == (2, 6, 8) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, raw / 256., rtol=1e-6)
    assert depth[0, 0, 0] == 0
    # RGB order: red is the column index, blue the frame index.
    assert imgs[1, 3, 5].tolist() == [5, 3, 1]
    assert results['img_shape'] == results['ori_shape'] == (6, 8)


def test_load_errors_name_the_file(tmp_path):
    depth = np.ones((2, 6, 8))
    window = write_window(str(tmp_path), depth, rgb_size=(6, 9))
    with pytest.raises(ValueError, match=r'0_depth.png.* is 6x8 .* is 6x9'):
        LoadVideoDepthWindow()(window)
    (tmp_path / 'u8').mkdir()
    window = write_window(str(tmp_path / 'u8'), depth, depth_dtype=np.uint8)
    with pytest.raises(ValueError, match='0_depth.png.*single-channel uint16'):
        LoadVideoDepthWindow()(window)
    window = write_window(str(tmp_path), depth)
    window['depth_paths'][1] = str(tmp_path / 'gone.png')
    with pytest.raises(FileNotFoundError, match='gone.png'):
        LoadVideoDepthWindow()(window)
    # Frames of different sizes within a window.
    first = write_window(str(tmp_path), depth[:1])
    other = tmp_path / 'other'
    other.mkdir()
    second = write_window(str(other), np.ones((1, 4, 4)))
    window = dict(first, img_paths=first['img_paths'] + second['img_paths'],
                  depth_paths=first['depth_paths'] + second['depth_paths'])
    with pytest.raises(ValueError, match=r'other/0.png.* is 4x4 .*first '
                       'frame'):
        LoadVideoDepthWindow()(window)


def test_resize_keeps_invalid_pixels_and_depth_values(tmp_path):
    results, _ = loaded(tmp_path)
    before = set(np.unique(results['gt_depth']).tolist())
    out = ResizeVideoDepth(short_side=9)(dict(results))
    assert out['img_shape'] == (9, 12)  # 6 x 8 -> short side 9, ratio kept
    assert out['imgs'].shape == (2, 9, 12, 3)
    assert out['gt_depth'].shape == (2, 9, 12)
    # Nearest neighbour: no new value, and the invalid corner stays 0.
    assert set(np.unique(out['gt_depth']).tolist()) <= before
    assert out['gt_depth'][0, 0, 0] == 0
    assert out['scale_factor'] == (1.5, 1.5)
    out = ResizeVideoDepth(size=(3, 4))(dict(results))
    np.testing.assert_array_equal(out['gt_depth'],
                                  results['gt_depth'][:, ::2, ::2])
    assert ResizeVideoDepth(short_side=4).target_size(10, 5) == (8, 4)


def test_crop_takes_one_region_from_rgb_and_depth(tmp_path):
    results, _ = loaded(tmp_path)
    depth = results['gt_depth'].copy()
    out = CropVideoDepth((4, 5), mode='center')(dict(results))
    assert out['crop_bbox'] == (1, 1, 6, 5)
    np.testing.assert_array_equal(out['gt_depth'], depth[:, 1:5, 1:6])
    assert out['imgs'][0, 0, 0, :2].tolist() == [1, 1]  # column 1, row 1
    np.random.seed(0)
    for _ in range(5):
        out = CropVideoDepth(3, mode='random')(dict(results))
        x1, y1, x2, y2 = out['crop_bbox']
        assert out['img_shape'] == (3, 3) and (x2 - x1, y2 - y1) == (3, 3)
        assert out['imgs'][1, 0, 0, :2].tolist() == [x1, y1]
        np.testing.assert_array_equal(out['gt_depth'],
                                      depth[:, y1:y2, x1:x2])
    with pytest.raises(ValueError, match=r"crop 7x7 from the 6x8 .*'seq'"):
        CropVideoDepth(7)(dict(results))


def test_flip_flips_both_or_neither(tmp_path):
    results, _ = loaded(tmp_path)
    out = FlipVideoDepth(flip_ratio=1.)(dict(results))
    assert out['flip'] is True
    np.testing.assert_array_equal(out['gt_depth'],
                                  results['gt_depth'][:, :, ::-1])
    assert out['imgs'][0, 0, 0, 0] == 7  # the last column comes first
    out = FlipVideoDepth(flip_ratio=0.)(dict(results))
    assert out['flip'] is False
    np.testing.assert_array_equal(out['gt_depth'], results['gt_depth'])


def test_pack(tmp_path):
    results, _ = loaded(tmp_path)
    results.update(window_start=3, frame_ids=['a', 'b'])
    packed = PackVideoDepthInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 2, 6, 8) and inputs.dtype == torch.uint8
    assert torch.equal(inputs[:, 1, 3, 5], torch.tensor([5, 3, 1],
                                                        dtype=torch.uint8))
    assert sample.gt_depth.shape == (2, 6, 8)
    assert sample.gt_depth.dtype == torch.float32
    assert sample.sequence == 'seq' and sample.window_start == 3
    assert sample.frame_ids == ['a', 'b'] and 'flip' not in sample


def test_arguments_and_reprs():
    with pytest.raises(ValueError, match='exactly one of short_side and size'):
        ResizeVideoDepth()
    with pytest.raises(ValueError, match='interpolation'):
        ResizeVideoDepth(short_side=4, interpolation='nearest')
    with pytest.raises(ValueError, match='mode'):
        CropVideoDepth(4, mode='corner')
    with pytest.raises(ValueError, match='flip_ratio'):
        FlipVideoDepth(2.)
    assert repr(ResizeVideoDepth(size=4)) == (
        "ResizeVideoDepth(short_side=None, size=(4, 4), "
        "interpolation='bilinear')")
    assert repr(CropVideoDepth(3, 'random')) == \
        "CropVideoDepth(crop_size=(3, 3), mode='random')"
    assert repr(FlipVideoDepth(0.5)) == 'FlipVideoDepth(flip_ratio=0.5)'
    assert repr(LoadVideoDepthWindow()) == 'LoadVideoDepthWindow()'
    assert repr(PackVideoDepthInputs(['sequence'])) == \
        "PackVideoDepthInputs(meta_keys=('sequence',))"
