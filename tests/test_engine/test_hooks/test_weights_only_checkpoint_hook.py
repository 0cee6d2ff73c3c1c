import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmivnext.engine.hooks import WeightsOnlyCheckpointHook


def _checkpoint():
    hub = MessageHub.get_instance('test_weights_only_hook')
    for value in (0.5, 0.25, 0.125):
        hub.update_scalar('train/loss', value)
    hub.update_info('epoch', 3)
    return dict(
        meta=dict(epoch=3, iter=12),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())


def test_plain_mmengine_checkpoint_is_refused(tmp_path):
    """The breakage the hook exists for: MMEngine pickles HistoryBuffer
    objects, which reference their statistics methods through getattr."""
    path = tmp_path / 'plain.pth'
    torch.save(_checkpoint(), path)
    with pytest.raises(Exception, match='HistoryBuffer|getattr'):
        torch.load(path, map_location='cpu')


def test_round_trip_through_weights_only_load(tmp_path):
    hook = WeightsOnlyCheckpointHook()
    checkpoint = _checkpoint()
    original = checkpoint['message_hub']['log_scalars']['train/loss']
    hook.before_save_checkpoint(None, checkpoint)
    path = tmp_path / 'hooked.pth'
    torch.save(checkpoint, path)

    loaded = torch.load(path, map_location='cpu', weights_only=True)
    hook.after_load_checkpoint(None, loaded)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_array_equal(buffer.data[0], original.data[0])
    np.testing.assert_array_equal(buffer.data[1], original.data[1])
    assert buffer.max_length == original.max_length
    assert buffer.mean() == pytest.approx(original.mean())
    # The restored state loads into a message hub as MMEngine's resume does.
    hub = MessageHub.get_instance('test_weights_only_hook_restored')
    hub.load_state_dict(loaded['message_hub'])
    assert hub.get_scalar('train/loss').current() == pytest.approx(0.125)
