"""Resize: mmaction2's Resize with a choice of mmcv's resize backend."""
import numpy as np
import pytest
from mmaction.datasets.transforms import Resize as MMActionResize
from PIL import Image

from mmivnext.datasets.transforms import Resize
from mmivnext.registry import TRANSFORMS


def clip(seed=0, num_frames=2, h=256, w=320):
    """``[H, W, 3]`` uint8 noise frames and their results dict."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
              for _ in range(num_frames)]
    return frames, dict(imgs=[f.copy() for f in frames], img_shape=(h, w),
                        modality='RGB')


def test_pillow_backend_is_pil_bilinear():
    """With 'pillow' the frames are PIL's ``Image.BILINEAR`` resize exactly,
    as the authors' (``datasets/transforms.py:124,133``), not cv2's."""
    frames, results = clip()
    transform = TRANSFORMS.build(dict(type='mmivnext.Resize', scale=(224, 224),
                                      keep_ratio=False, backend='pillow'))
    out = transform(results)
    cv2_out = Resize((224, 224), keep_ratio=False, backend='cv2')(clip()[1])
    assert out['img_shape'] == (224, 224)
    np.testing.assert_allclose(out['scale_factor'], [224 / 320, 224 / 256])
    for frame, resized, cv2_resized in zip(frames, out['imgs'],
                                           cv2_out['imgs']):
        expected = np.asarray(
            Image.fromarray(frame).resize((224, 224), Image.BILINEAR))
        assert resized.dtype == np.uint8 and resized.shape == (224, 224, 3)
        np.testing.assert_array_equal(resized, expected)
        assert not np.array_equal(resized, cv2_resized)


def test_default_backend_is_mmaction_resize():
    """backend=None is mmaction.Resize exactly (mmcv's global backend)."""
    for kwargs in (dict(scale=(224, 224), keep_ratio=False),
                   dict(scale=(-1, 128))):
        out = Resize(**kwargs)(clip(1)[1])
        expected = MMActionResize(**kwargs)(clip(1)[1])
        assert out['img_shape'] == expected['img_shape']
        np.testing.assert_array_equal(out['scale_factor'],
                                      expected['scale_factor'])
        np.testing.assert_array_equal(np.stack(out['imgs']),
                                      np.stack(expected['imgs']))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'PIL'"):
        Resize((224, 224), backend='PIL')
    with pytest.raises(ValueError, match='lazy=False'):
        Resize((224, 224), lazy=True, backend='pillow')
    with pytest.raises(ValueError, match="'area'"):
        Resize((224, 224), interpolation='area', backend='pillow')


def test_repr():
    assert repr(Resize((224, 224), keep_ratio=False, backend='pillow')) == (
        'Resize(scale=(224, 224), keep_ratio=False, interpolation=bilinear, '
        "lazy=False, backend='pillow')")
