"""tools/data/build_tracking_windows.py and make_synthetic_tracking.py, run
through their ``main``: windows of the synthetic set, and a raw 10 fps
non-square sequence whose frames are cropped where its boxes were mapped."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mmivnext.datasets import VideoBoxTrackingDataset
from script_helpers import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(name):
    return load_script(f'tools/data/{name}.py')


def test_synthetic_set_end_to_end(tmp_path, capsys):
    out = str(tmp_path / 'synthetic')
    load_tool('make_synthetic_tracking').main(
        ['--out-dir', out, '--num-train', '2', '--num-val', '1',
         '--num-frames', '19', '--size', '32'])
    windows_file = osp.join(out, 'windows_train.json')
    load_tool('build_tracking_windows').main(
        [osp.join(out, 'annotations_train.json'), windows_file,
         '--target-fps', '5', '--resize-short', '32', '--crop-size', '32'])
    printed = capsys.readouterr().out
    data = json.load(open(windows_file))
    # 19 frames: candidate starts 0 and 3 per sequence.
    assert f'{len(data["windows"])} windows from 2 sequences' in printed
    assert 0 < len(data['windows']) <= 4
    assert data['metadata']['rules']['crop_size'] == [32, 32]
    dataset = VideoBoxTrackingDataset(ann_file=windows_file, pipeline=[],
                                      data_root=out)
    assert all(osp.isfile(p) for p in dataset.get_data_info(0)['frame_paths'])


def test_raw_frames_are_cropped_like_the_boxes(tmp_path):
    # 10 fps, 96 x 64 frames: short side 64 -> 32 (scale 1/2), 48 x 32,
    # centre crop 32 x 32 at x offset 8. A bright box moves right.
    raw = tmp_path / 'raw'
    (raw / 'seq').mkdir(parents=True)
    frames = []
    for k in range(32):
        box = [20 + k, 10, 50 + k, 40]
        image = np.full((64, 96, 3), 40, np.uint8)
        image[box[1]:box[3], box[0]:box[2]] = 230
        cv2.imwrite(str(raw / 'seq' / f'{k:06d}.jpg'), image)
        frames.append([dict(track_id='car', box=box)])
    annotations = tmp_path / 'annotations.json'
    annotations.write_text(json.dumps(dict(sequences=[dict(
        name='seq', fps=10, frame_size=[96, 64], frames=frames)])))
    windows_file = str(tmp_path / 'windows.json')
    load_tool('build_tracking_windows').main(
        [str(annotations), windows_file, '--resize-short', '32',
         '--crop-size', '32', '--src-frames', str(raw), '--dst-frames',
         str(tmp_path / 'frames')])

    (window, ) = json.load(open(windows_file))['windows']
    assert window['frames'] == list(range(0, 32, 2))  # 5 fps
    written = sorted(p.name for p in (tmp_path / 'frames' / 'seq').iterdir())
    assert written == [f'{k:06d}.jpg' for k in range(0, 32, 2)]
    for t in (0, 15):
        box = window['objects'][0]['boxes'][t]
        k = window['frames'][t]
        assert box == [(20 + k) / 2 - 8, 5., (50 + k) / 2 - 8, 20.]
        image = cv2.imread(str(tmp_path / 'frames' / 'seq' / f'{k:06d}.jpg'))
        assert image.shape == (32, 32, 3)
        ys, xs = np.nonzero(image[..., 0] > 135)
        np.testing.assert_allclose(
            [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=1.)


def test_cli_errors(tmp_path):
    tool = load_tool('build_tracking_windows')
    with pytest.raises(SystemExit):
        tool.parse_args(['a.json', 'b.json', '--src-frames', 'raw'])
    with pytest.raises(SystemExit):
        tool.parse_args(['a.json', 'b.json', '--crop-size', '1', '2', '3'])
    with pytest.raises(FileNotFoundError, match='missing.json'):
        tool.main([str(tmp_path / 'missing.json'), str(tmp_path / 'w.json')])
