"""checkpoint_io: weights-only reads that name the file, atomic writes."""
import os

import pytest
import torch
from safetensors.torch import save_file

from mmivnext.utils.checkpoint_io import (CheckpointLoadError, atomic_save,
                                          atomic_write, atomic_write_text,
                                          checkpoint_is_loadable,
                                          load_checkpoint_file,
                                          load_state_dict_file)


def test_reads_torch_and_safetensors_files(tmp_path):
    weights = dict(w=torch.arange(6.).reshape(2, 3))
    atomic_save(dict(state_dict=weights, meta=dict(epoch=1)),
                str(tmp_path / 'a.pth'))
    save_file(weights, str(tmp_path / 'a.safetensors'))
    loaded = load_checkpoint_file(str(tmp_path / 'a.pth'))
    assert loaded['meta'] == dict(epoch=1)
    assert torch.equal(loaded['state_dict']['w'], weights['w'])
    assert torch.equal(
        load_checkpoint_file(str(tmp_path / 'a.safetensors'))['w'],
        weights['w'])


def test_errors_name_the_file(tmp_path):
    missing = str(tmp_path / 'none.pth')
    with pytest.raises(FileNotFoundError, match=missing):
        load_checkpoint_file(missing)
    path = str(tmp_path / 'half.pth')
    torch.save(dict(w=torch.ones(1000)), path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointLoadError,
                       match=f'{path}: not a readable torch checkpoint'):
        load_checkpoint_file(path)
    assert path in checkpoint_is_loadable(path)
    bare = str(tmp_path / 'bare.pth')
    torch.save(torch.ones(2), bare)
    assert checkpoint_is_loadable(bare) is None
    with pytest.raises(CheckpointLoadError,
                       match=f'{bare}: holds a Tensor, not a checkpoint dict'):
        load_state_dict_file(bare)


def test_refuses_code_even_if_torch_would_not(tmp_path, monkeypatch):
    """Objects other than data are refused, with the global torch names,
    although the environment turns torch's weights-only default off."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    path = str(tmp_path / 'obj.pth')
    torch.save(dict(layer=torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointLoadError,
                       match=f'{path}: refused by weights-only loading.*'
                       r'torch\.nn\.modules\.linear\.Linear'):
        load_checkpoint_file(path)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text('epoch_1.pth', path)
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_write(path, 'w') as f:
            f.write('epoch_2')
            raise RuntimeError('killed')
    with open(path) as f:
        assert f.read() == 'epoch_1.pth'
    assert os.listdir(tmp_path) == ['last_checkpoint']  # no temporary left
    atomic_write_text('epoch_2.pth', path)
    with open(path) as f:
        assert f.read() == 'epoch_2.pth'
