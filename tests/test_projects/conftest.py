"""Fixtures of the projects' tests: the demo files of both projects, and a
working directory where the projects' demo configs find them."""
import os.path as osp

import pytest

from mmivnext.testing.video_text import make_video_text_demo

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='session')
def video_text_demo(tmp_path_factory):
    """:func:`~mmivnext.testing.video_text.make_video_text_demo` written once
    per session; returns its paths (``root`` is the folder to run in)."""
    root = tmp_path_factory.mktemp('video_text_demo')
    paths = make_video_text_demo(str(root))
    paths['run_dir'] = str(root)
    return paths


@pytest.fixture
def in_demo_dir(video_text_demo, monkeypatch):
    """Run in the demo folder (the demo configs' relative paths resolve
    there), with the repository root importable (``projects.*``, as
    ``PYTHONPATH=.`` does for the tools)."""
    monkeypatch.chdir(video_text_demo['run_dir'])
    monkeypatch.syspath_prepend(ROOT)
    return video_text_demo


@pytest.fixture(autouse=True)
def _unformatted_config_dumps(monkeypatch):
    """Skip yapf's formatting of the config text MMEngine logs and dumps.

    A runner formats its config four times (``Config.pretty_text``), about
    1.2 s each for these configs on the 2-core test machine: two thirds of
    a tiny run. The text is still produced, logged and dumped, as valid
    Python, only not re-indented.
    """
    import mmengine.config.config as mmengine_config
    monkeypatch.setattr(mmengine_config, 'FormatCode',
                        lambda text, **kwargs: (text, False))
