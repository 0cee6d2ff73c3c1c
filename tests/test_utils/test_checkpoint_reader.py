"""One checkpoint reader: URLs, and MMEngine's loaders for local files and
URLs, end in ``checkpoint_io.load_checkpoint_file`` (weights-only, errors
naming the file and the URL)."""
import shutil
import urllib.error

import pytest
import torch
import torch.hub
from safetensors.torch import save_file

import mmivnext  # noqa: F401  (compat fixes, MMEngine's loaders replaced)
from mmivnext.utils import checkpoint_io
from mmivnext.utils.checkpoint_io import (CheckpointLoadError,
                                          load_checkpoint_file)

URL = 'https://example.invalid/weights/'


@pytest.fixture
def fake_web(tmp_path, monkeypatch):
    """``torch.hub``'s download copies from ``tmp_path/web``; the hub cache is
    ``tmp_path/hub``. Returns the web folder and the list of downloads."""
    web, downloads = tmp_path / 'web', []
    web.mkdir()

    def download(url, dst, hash_prefix=None, progress=True):
        downloads.append(url)
        src = web / url[len(URL):]
        if not src.is_file():
            raise urllib.error.HTTPError(url, 404, 'Not Found', None, None)
        shutil.copyfile(src, dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    return web, downloads


def test_a_url_is_downloaded_once_then_read_as_a_file(fake_web, tmp_path):
    web, downloads = fake_web
    weights = dict(w=torch.arange(6.).reshape(2, 3))
    torch.save(dict(state_dict=weights), web / 'a.pth')
    save_file(weights, str(web / 'a.safetensors'))
    for _ in range(2):
        loaded = load_checkpoint_file(URL + 'a.pth')
        assert torch.equal(loaded['state_dict']['w'], weights['w'])
    assert downloads == [URL + 'a.pth']
    assert (tmp_path / 'hub' / 'checkpoints' / 'a.pth').is_file()
    assert torch.equal(load_checkpoint_file(URL + 'a.safetensors')['w'],
                       weights['w'])


def test_url_errors_name_the_url(fake_web, monkeypatch):
    web, _ = fake_web
    with pytest.raises(CheckpointLoadError,
                       match=f'{URL}none.pth: cannot be downloaded.*404'):
        load_checkpoint_file(URL + 'none.pth')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    torch.save(dict(layer=torch.nn.Linear(2, 2)), web / 'obj.pth')
    with pytest.raises(CheckpointLoadError,
                       match=f'{URL}obj.pth: .*obj.pth: refused by '
                       'weights-only loading'):
        load_checkpoint_file(URL + 'obj.pth')


@pytest.mark.parametrize('name', ['a.pth', 'obj.pth', 'none.pth'])
def test_mmengine_loads_urls_and_files_with_the_same_reader(
        fake_web, monkeypatch, name):
    from mmengine.runner import CheckpointLoader
    web, _ = fake_web
    torch.save(dict(w=torch.ones(2)), web / 'a.pth')
    torch.save(dict(layer=torch.nn.Linear(2, 2)), web / 'obj.pth')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    calls = []
    reader = checkpoint_io.load_checkpoint_file

    def spy(path, map_location='cpu'):
        calls.append(path)
        return reader(path, map_location)

    monkeypatch.setattr(checkpoint_io, 'load_checkpoint_file', spy)
    for source in (URL + name, str(web / name)):
        if name == 'a.pth':
            loaded = CheckpointLoader.load_checkpoint(source, 'cpu')
            assert torch.equal(loaded['w'], torch.ones(2))
        else:
            with pytest.raises((CheckpointLoadError, FileNotFoundError),
                               match=name):
                CheckpointLoader.load_checkpoint(source, 'cpu')
        assert source in calls
