"""Fixtures shared by the tests: a small demo video set and mmivnext's scope."""
import pytest
from mmengine.registry import DefaultScope

import mmivnext  # noqa: F401  (applies the upstream fixes first)
from mmivnext.testing import make_demo_videos
from mmivnext.testing.tiny_stage1 import save_tiny_stage1_checkpoints

#: Arguments of the session's demo set: small enough to write in well under a
#: second, large enough for one video per class in the train split.
DEMO_TEST_ARGS = dict(
    num_train=12, num_val=6, num_frames=16, size=56, fps=8.0, seed=0)


@pytest.fixture
def demo_videos_args():
    """The keyword arguments of ``make_demo_videos`` behind ``demo_videos``
    (a fresh dict: ``num_train=12, num_val=6, num_frames=16, size=56,
    fps=8.0, seed=0``)."""
    return dict(DEMO_TEST_ARGS)


@pytest.fixture(scope='session')
def demo_videos(tmp_path_factory):
    """The demo set written once per session with :data:`DEMO_TEST_ARGS`.

    Returns:
        dict: ``root`` (folder), ``train_list`` and ``val_list`` (mmaction2
        lists, ``"train/video_00000.mp4 <label>"``, relative to ``root``) and
        ``classes_file``, as returned by ``make_demo_videos``. Read-only:
        tests that damage videos work on copies.
    """
    root = tmp_path_factory.mktemp('demo_videos')
    return make_demo_videos(str(root), **DEMO_TEST_ARGS)


@pytest.fixture
def mmivnext_scope():
    """Make ``'mmivnext'`` the default registry scope for one test.

    Configs and pipelines name mmaction2 and MMEngine classes by plain name
    (``DecordInit``, ``DefaultSampler``), as under ``default_scope='mmivnext'``
    in a run. The previous scope is restored afterwards.
    """
    with DefaultScope.overwrite_default_scope('mmivnext'):
        yield


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Keep each test's registry scope to itself.

    MMEngine's current default scope is the latest ``DefaultScope`` instance,
    and a Runner creates one that outlives it: without this, a test that
    builds a Runner in mmivnext's scope changes how later tests resolve plain
    names such as ``CrossEntropyLoss``.
    """
    before = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


@pytest.fixture(scope='module')
def tiny_checkpoints(tmp_path_factory):
    """The tiny teacher and predictor of
    :func:`~mmivnext.testing.tiny_stage1.save_tiny_stage1_checkpoints`, written
    once per module: ``dict(teacher=dir, predictor=dir)``."""
    return save_tiny_stage1_checkpoints(
        str(tmp_path_factory.mktemp('stage1_models')))
