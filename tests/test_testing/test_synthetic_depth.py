"""make_synthetic_depth_sequences: the layout, the stored depth, determinism."""
import filecmp
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmivnext.testing import make_synthetic_depth_sequences
from mmivnext.testing.synthetic_depth import render_depth_sequence

ARGS = dict(num_train=2, num_val=1, num_frames=6, size=(32, 48), seed=3)


def test_layout_and_depth_values(tmp_path):
    paths = make_synthetic_depth_sequences(str(tmp_path), **ARGS)
    assert paths['sequences'] == dict(train=['train/seq_000', 'train/seq_001'],
                                      val=['val/seq_000'])
    with open(paths['train_list']) as f:
        assert f.read().split() == ['train/seq_000', 'train/seq_001']
    seq = tmp_path / 'train' / 'seq_001'
    stems = [f'{t:06d}.png' for t in range(6)]
    assert sorted(os.listdir(seq / 'rgb')) == stems
    assert sorted(os.listdir(seq / 'depth')) == stems
    rgb = cv2.imread(str(seq / 'rgb' / stems[0]), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(seq / 'depth' / stems[0]), cv2.IMREAD_UNCHANGED)
    assert rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8
    assert depth.shape == (32, 48) and depth.dtype == np.uint16
    # The sky band (top 15 %: 5 rows) is invalid, plus ~5 % drop-outs.
    assert (depth[:5] == 0).all()
    below = depth[5:]
    assert 0.01 < (below == 0).mean() < 0.12
    metres = below[below > 0] / 1000.
    assert metres.min() >= 0.5 and metres.max() <= 8.0


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = make_synthetic_depth_sequences(str(tmp_path / 'a'), **ARGS)
    b = make_synthetic_depth_sequences(str(tmp_path / 'b'), **ARGS)
    c = make_synthetic_depth_sequences(str(tmp_path / 'c'),
                                       **dict(ARGS, seed=4))
    name = 'val/seq_000/depth/000002.png'
    assert filecmp.cmp(osp.join(a['root'], name), osp.join(b['root'], name),
                       shallow=False)
    assert not filecmp.cmp(osp.join(a['root'], name),
                           osp.join(c['root'], name), shallow=False)


def test_render_is_deterministic_and_moves():
    render = [render_depth_sequence(4, (32, 32), (0.5, 8.), 0.,
                                    np.random.default_rng(7))
              for _ in range(2)]
    np.testing.assert_array_equal(render[0][0], render[1][0])
    np.testing.assert_array_equal(render[0][1], render[1][1])
    frames, depth = render[0]
    assert not np.array_equal(depth[0], depth[-1])  # camera / boxes move
    assert frames.shape == (4, 32, 32, 3) and depth.dtype == np.float32


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='must give stored values'):
        make_synthetic_depth_sequences(str(tmp_path), depth_range=(0.5, 80.))
    with pytest.raises(ValueError, match='rgb_ext'):
        make_synthetic_depth_sequences(str(tmp_path), rgb_ext='.bmp')
    with pytest.raises(ValueError, match='depth_range'):
        render_depth_sequence(2, (32, 32), (5., 1.), 0.,
                              np.random.default_rng(0))
