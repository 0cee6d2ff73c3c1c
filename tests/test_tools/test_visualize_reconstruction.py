"""tools/analysis/visualize_reconstruction.py: its masked-patch PSNR and
the CLI on a tiny Stage-1 model and tiny videos."""
import json
import math
import os.path as osp
import re

import cv2
import pytest
import torch
from mmengine.config import Config

from mmivnext.testing.tiny_stage1 import build, tiny_model_cfg
from script_helpers import load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis/visualize_reconstruction.py')


def hand_psnr(pred, target, mask):
    """The PSNR of each clip by plain Python loops over its masked pixels."""
    result = []
    for b in range(pred.shape[0]):
        errors = [(pred[b, c, t, h, w].item() - target[b, c, t, h, w].item())
                  ** 2 for c in range(pred.shape[1])
                  for t, h, w in torch.nonzero(mask[b]).tolist()]
        mse = sum(errors) / len(errors)
        result.append(10 * math.log10(255**2 / mse) if mse else math.inf)
    return result


def test_masked_psnr_is_the_hand_computation(tool):
    # 3 clips of 3 channels, 1 frame of 2 x 2 pixels.
    target = torch.arange(36, dtype=torch.float64).reshape(3, 3, 1, 2, 2)
    mask = torch.tensor([[[[True, False], [False, True]]],
                         [[[True, True], [True, True]]],
                         [[[False, True], [False, False]]]])
    pred = target + 200  # every unmasked pixel far off: must not count
    # Clip 0: errors 51, 25.5, 0 (pixel 0,0) and 0, 25.5, 0 (pixel 1,1):
    # MSE (51^2 + 2 * 25.5^2) / 6 = 650.25 = 255^2 / 100 -> 20 dB.
    pred[0, :, 0, 0, 0] = target[0, :, 0, 0, 0] + torch.tensor(
        [51., -25.5, 0.], dtype=torch.float64)
    pred[0, :, 0, 1, 1] = target[0, :, 0, 1, 1] + torch.tensor(
        [0., 25.5, 0.], dtype=torch.float64)
    pred[1] = target[1] - 255  # every pixel off by 255 -> 0 dB
    pred[2, :, 0, 0, 1] = target[2, :, 0, 0, 1]  # exact -> MSE 0 -> inf
    psnr = tool.masked_psnr(pred, target, mask)
    assert psnr.dtype == torch.float64 and psnr.shape == (3, )
    assert psnr.tolist() == hand_psnr(pred, target, mask) == [
        20.0, 0.0, math.inf]
    # float32 inputs are scored in float64 too.
    assert tool.masked_psnr(pred.float(), target.float(),
                            mask).tolist() == [20.0, 0.0, math.inf]


def test_masked_psnr_refuses_clips_without_masked_pixels(tool):
    clip = torch.zeros(2, 3, 1, 2, 2)
    mask = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 0] = True
    with pytest.raises(ValueError, match=r'clips \[1\] have no masked'):
        tool.masked_psnr(clip, clip, mask)
    with pytest.raises(ValueError, match='mask must be a bool'):
        tool.masked_psnr(clip, clip, mask.float())


def test_mean_colour_baseline(tool):
    mask = torch.tensor([[[True, False], [False, True]]]).expand(2, 1, 2, 2)
    clip = torch.empty(2, 3, 1, 2, 2, dtype=torch.float64)
    # Clip 0: the masked pixels hold the clip's mean colour (the unmasked
    # ones are that colour +- 30): the baseline matches them, MSE 0 -> inf.
    colour = torch.tensor([100., 50., 200.], dtype=torch.float64)
    clip[0] = colour.view(3, 1, 1, 1)
    clip[0, :, 0, 0, 1] += 30
    clip[0, :, 0, 1, 0] -= 30
    # Clip 1: masked pixels 0, unmasked 51: the mean 25.5 is off by 25.5 on
    # every masked pixel, MSE 650.25 -> 20 dB.
    clip[1] = 51
    clip[1, :, 0, 0, 0] = clip[1, :, 0, 1, 1] = 0
    baseline = tool.mean_colour_baseline(clip)
    assert baseline.shape == clip.shape
    assert torch.equal(baseline[0, :, 0, 0, 0], colour)
    assert (baseline[1] == 25.5).all()
    psnr = tool.masked_psnr(baseline, clip, mask)
    assert psnr.tolist() == hand_psnr(baseline, clip, mask) == [
        math.inf, 20.0]


def test_metrics_json_is_strict_and_keeps_infinity(tool, tmp_path):
    path = str(tmp_path / 'metrics.json')
    tool.write_metrics(path, dict(
        psnr_mean_colour=[tool._json_number(x) for x in (20.0, math.inf)]))
    with open(path) as f:
        text = f.read()
    assert 'Infinity' not in text
    assert [float(x) for x in json.loads(text)['psnr_mean_colour']] == [
        20.0, math.inf]


@pytest.fixture(scope='module')
def tiny_run(tiny_checkpoints, tmp_path_factory):
    """A config and a checkpoint of the tiny Stage-1 model (4 frames of
    28 px, 2 x 2 patches of 14 px)."""
    folder = tmp_path_factory.mktemp('tiny_stage1')
    model_cfg = tiny_model_cfg(tiny_checkpoints)
    model_cfg['pixel_head'].update(num_sampling_steps=2)
    config = str(folder / 'config.py')
    Config(dict(model=model_cfg, default_scope='mmivnext')).dump(config)
    torch.manual_seed(0)
    checkpoint = str(folder / 'tiny.pth')
    torch.save(dict(state_dict=build(model_cfg).state_dict()), checkpoint)
    return config, checkpoint


def test_draws_two_of_three_clips_and_writes_metrics(tool, tiny_run,
                                                     demo_videos, tmp_path,
                                                     capsys):
    config, checkpoint = tiny_run
    videos = [osp.join(demo_videos['root'], 'val', f'video_0000{i}.mp4')
              for i in range(3)]
    out, metrics_out = tmp_path / 'recon.png', tmp_path / 'm' / 'psnr.json'
    returned = tool.main([
        config, checkpoint, *videos, '--out', str(out), '--draw', '2',
        '--metrics-out', str(metrics_out), '--batch-size', '2',
        '--cell-size', '16'
    ])
    # 2 clips of 3 rows of 16 px, one separator; 4 frames of 16 px.
    image = cv2.imread(str(out))
    assert image.shape == (2 * 3 * 16 + tool.SEPARATOR_PX, 4 * 16, 3)
    assert (image[3 * 16:3 * 16 + tool.SEPARATOR_PX] == 255).all()

    with open(metrics_out) as f:
        metrics = json.load(f)
    assert metrics['videos'] == videos
    recon, base = metrics['psnr_reconstruction'], metrics['psnr_mean_colour']
    assert len(recon) == len(base) == 3
    assert all(math.isfinite(x) for x in recon + base)
    assert metrics['mean_psnr_reconstruction'] == pytest.approx(
        sum(recon) / 3)
    assert metrics['mean_psnr_mean_colour'] == pytest.approx(sum(base) / 3)
    assert metrics['mean_gain_db'] == pytest.approx(
        metrics['mean_psnr_reconstruction'] -
        metrics['mean_psnr_mean_colour'])
    assert metrics['masked_fraction'] == 0.5  # the masker's ratio
    assert (metrics['num_steps'], metrics['temperature'],
            metrics['seed']) == (2, 1.0, 0)
    assert metrics == json.loads(json.dumps(returned))

    # The tool's own output is one line (MMEngine logs the load apart).
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith('wrote ')]
    assert len(lines) == 1 and str(metrics_out) in lines[0]
    assert f"{metrics['mean_gain_db']:+.2f} dB" in lines[0]


@pytest.mark.parametrize('options,message', [
    pytest.param(['--draw', '3'], r'--draw must be between 1 and the number '
                 r'of videos \(2\), got 3', id='draw-3-of-2'),
    pytest.param(['--draw', '0'], r'--draw must be between 1 .* got 0',
                 id='draw-0'),
    pytest.param(['--batch-size', '0'],
                 r'--batch-size must be at least 1, got 0', id='batch-size-0'),
])
def test_bad_values_are_named(tool, options, message, capsys):
    with pytest.raises(SystemExit) as exc:
        tool.main(['config.py', 'ckpt.pth', 'a.mp4', 'b.mp4', *options])
    assert exc.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(message, error), error


def test_missing_video_is_named(tool, tiny_run, demo_videos, tmp_path):
    config, checkpoint = tiny_run
    video = osp.join(demo_videos['root'], 'val', 'video_00000.mp4')
    missing = str(tmp_path / 'nowhere.mp4')
    with pytest.raises(SystemExit, match=re.escape(
            f'error: video not found: {missing}')):
        tool.main([config, checkpoint, video, missing, '--out',
                   str(tmp_path / 'recon.png')])
    assert not (tmp_path / 'recon.png').exists()
