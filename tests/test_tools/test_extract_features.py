"""tools/extract_features.py (and mmivnext.apis behind it) on the demo videos
with a tiny exported encoder (width 32, 2 layers, 2 cls tokens, 4 frames,
28 px, patch 14)."""
import json
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from mmivnext.apis import (IMAGENET_MEAN, IMAGENET_STD, build_pipeline,
                           feature_extraction, pipeline_cfg)
from mmivnext.datasets.video_dataset import VideoReadError
from mmivnext.models.backbones import VisionTransformer3D
from script_helpers import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                      feedforward_channels=64),
            img_size=28, num_frames=4, num_cls_tokens=2,
            projector_cfg=dict(num_heads=2, out_dims=16))
#: Preprocessing arguments: 4 frames, short side 32, 28-px centre crop.
PRE = ['--num-frames', '4', '--short-side', '32', '--crop-size', '28',
       '--device', 'cpu', '--num-workers', '0']


extract = load_script('tools/extract_features.py')  # the command line


@pytest.fixture(scope='module')
def encoder_file(tmp_path_factory):
    """A tiny encoder saved as export_encoder.py writes it."""
    torch.manual_seed(0)
    encoder = VisionTransformer3D(**ARCH)
    encoder.init_weights()
    path = str(tmp_path_factory.mktemp('encoder') / 'tiny.safetensors')
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()},
              path)
    with open(path[:-len('.safetensors')] + '.json', 'w') as f:
        json.dump(ARCH, f)
    return path


def reference(encoder_file, filename, out_type, num_clips=1, **pre):
    """A direct forward of the encoder on the pipeline's clips, averaged."""
    pipeline = build_pipeline(pipeline_cfg(
        num_frames=4, num_clips=num_clips, short_side=32, crop_size=28, **pre))
    imgs = pipeline(dict(filename=filename, start_index=0,
                         modality='RGB'))['imgs']
    clips = torch.from_numpy(imgs).float()  # [N, 3, 4, 28, 28]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    encoder = VisionTransformer3D(**ARCH | dict(out_type=out_type), init_cfg=dict(
        type='Pretrained', checkpoint=encoder_file)).eval()
    encoder.init_weights()
    with torch.no_grad():
        return encoder((clips - mean) / std).mean(dim=0)


def read_manifest(out_dir):
    with open(osp.join(out_dir, 'manifest.jsonl')) as f:
        return [json.loads(line) for line in f]


def test_folder_safetensors_equals_direct_forward(demo_videos, encoder_file,
                                                  tmp_path):
    out = str(tmp_path / 'out')
    summary = extract.main([demo_videos['root'], out, '--encoder',
                            encoder_file, '--pooled', '--tokens',
                            '--batch-size', '4'] + PRE)
    assert summary == dict(total=18, skipped=0, done=18, failed=0,
                           failed_videos=[], redone=0)
    records = read_manifest(out)
    assert sorted(r['video'] for r in records) == sorted(
        [f'train/video_{i:05d}.mp4' for i in range(12)] +
        [f'val/video_{i:05d}.mp4' for i in range(6)])
    record = next(r for r in records if r['video'] == 'val/video_00002.mp4')
    assert record['status'] == 'done'
    assert record['outputs'] == dict(pooled='val/video_00002.safetensors',
                                     tokens='val/video_00002.safetensors')
    assert record['shapes'] == dict(pooled=[32], tokens=[4, 2, 2, 32])
    arrays = load_file(osp.join(out, 'val', 'video_00002.safetensors'))
    filename = osp.join(demo_videos['root'], 'val', 'video_00002.mp4')
    assert_close(arrays['pooled'],
                 reference(encoder_file, filename, 'avg_featmap'))
    featmap = reference(encoder_file, filename, 'featmap')  # [C, T', H', W']
    assert_close(arrays['tokens'], featmap.permute(1, 2, 3, 0))


@pytest.mark.parametrize('pooled,out_type', [('cls', 'cls_token'),
                                             ('projected', 'projected')])
def test_list_file_npy_several_clips(demo_videos, encoder_file, tmp_path,
                                     pooled, out_type):
    out = str(tmp_path / 'out')
    summary = extract.main([demo_videos['val_list'], out, '--encoder',
                            encoder_file, '--pooled', pooled, '--format',
                            'npy', '--num-clips', '2', '--frame-interval',
                            '2', '--batch-size', '4'] + PRE)
    assert summary['done'] == 6
    record = read_manifest(out)[1]
    assert record['video'] == 'val/video_00001.mp4'
    assert record['outputs'] == dict(pooled='val/video_00001.pooled.npy')
    assert record['num_clips'] == 2
    pooled_array = np.load(osp.join(out, 'val', 'video_00001.pooled.npy'))
    expected = reference(encoder_file, record['filename'], out_type,
                         num_clips=2, frame_interval=2)
    assert_close(torch.from_numpy(pooled_array), expected)
    assert not osp.exists(osp.join(out, 'val', 'video_00001.tokens.npy'))


def test_resume_after_interruption(demo_videos, encoder_file, tmp_path,
                                   monkeypatch):
    out = str(tmp_path / 'out')
    argv = [demo_videos['val_list'], out, '--encoder', encoder_file,
            '--pooled', '--batch-size', '2'] + PRE
    save = feature_extraction.save_outputs
    calls = []

    def interrupted(*args):
        calls.append(args[1])
        if len(calls) == 4:
            raise KeyboardInterrupt
        save(*args)

    monkeypatch.setattr(feature_extraction, 'save_outputs', interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract.main(argv)
    done = [r['video'] for r in read_manifest(out)]
    assert done == [f'val/video_{i:05d}.mp4' for i in range(3)]
    mtimes = {v: os.stat(osp.join(out, v[:-4] + '.safetensors')).st_mtime_ns
              for v in done}
    assert not [f for f in os.listdir(osp.join(out, 'val')) if '.tmp' in f]

    calls.clear()
    summary = extract.main(argv)
    assert summary['skipped'] == 3 and summary['done'] == 3
    assert len(calls) == 3  # only the videos not done were extracted
    for video, mtime in mtimes.items():
        path = osp.join(out, video[:-4] + '.safetensors')
        assert os.stat(path).st_mtime_ns == mtime
    assert len({r['video'] for r in read_manifest(out)}) == 6
    # A line cut short by a kill while appending is dropped on restart.
    with open(osp.join(out, 'manifest.jsonl'), 'a') as f:
        f.write('{"video": "val/vid')
    assert extract.main(argv)['skipped'] == 6
    assert len(read_manifest(out)) == 6
    # A done video whose file is gone is extracted again.
    os.remove(osp.join(out, 'val', 'video_00000.safetensors'))
    calls.clear()
    assert extract.main(argv)['done'] == 1 and len(calls) == 1


def test_corrupt_video(demo_videos, encoder_file, tmp_path):
    videos = tmp_path / 'videos'
    shutil.copytree(osp.join(demo_videos['root'], 'val'), videos)
    (videos / 'video_00003.mp4').write_bytes(b'not a video at all')
    out = str(tmp_path / 'out')
    argv = [str(videos), out, '--encoder', encoder_file, '--pooled',
            '--batch-size', '2'] + PRE
    with pytest.raises(VideoReadError, match='video_00003.mp4'):
        extract.main(argv)
    # The readable videos up to and with the failing batch were kept.
    assert [r['video'] for r in read_manifest(out)] == [
        f'video_{i:05d}.mp4' for i in range(3)]

    # Failures cross DataLoader workers as records, not exceptions.
    summary = extract.main(argv + ['--on-error', 'skip', '--num-workers',
                                   '2'])
    assert summary['failed'] == 1
    assert summary['failed_videos'] == ['video_00003.mp4']
    assert summary['skipped'] == 3 and summary['done'] == 2
    failed = [r for r in read_manifest(out) if r['status'] == 'failed']
    assert len(failed) == 1 and failed[0]['video'] == 'video_00003.mp4'
    assert 'VideoInit' in failed[0]['error']


def test_config_checkpoint_matches_exported(demo_videos, encoder_file,
                                            tmp_path):
    state = load_file(encoder_file)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in state.items()}
                    | {'cls_head.fc.weight': torch.zeros(2, 32)}), ckpt)
    config = str(tmp_path / 'cfg.py')
    Config(dict(model=dict(type='Recognizer3D', backbone=dict(
        type='mmivnext.VisionTransformer3D', out_type='featmap',
        drop_path_rate=0.1, **ARCH)))).dump(config)
    out_a, out_b = str(tmp_path / 'a'), str(tmp_path / 'b')
    common = [demo_videos['val_list'], '--pooled', '--tokens'] + PRE
    extract.main(common[:1] + [out_a, '--encoder', encoder_file] + common[1:])
    extract.main(common[:1] + [out_b, '--config', config, '--checkpoint',
                               ckpt] + common[1:])
    for name in ('video_00000', 'video_00005'):
        a = load_file(osp.join(out_a, 'val', f'{name}.safetensors'))
        b = load_file(osp.join(out_b, 'val', f'{name}.safetensors'))
        assert_close(a, b)
    with pytest.raises(SystemExit, match="^error: .*model.pth has no weights "
                       "with the prefix 'encoder.'"):
        extract.main(common[:1] + [str(tmp_path / 'c'), '--config', config,
                                   '--checkpoint', ckpt, '--prefix',
                                   'encoder.'] + common[1:])


def test_refusals(demo_videos, encoder_file, tmp_path):
    out = str(tmp_path / 'out')
    argv = [demo_videos['val_list'], out, '--encoder', encoder_file,
            '--pooled'] + PRE
    extract.main(argv)
    with pytest.raises(ValueError, match='other settings'):
        extract.main(argv + ['--tokens'])
    with pytest.raises(SystemExit, match='CUDA'):
        extract.main(argv + ['--amp'])
    with pytest.raises(SystemExit):  # nothing to save
        extract.main([demo_videos['val_list'], out, '--encoder',
                      encoder_file])
    with pytest.raises(SystemExit, match='^error: .*missing.safetensors: no '
                       'such file'):
        extract.main([demo_videos['val_list'], str(tmp_path / 'x'),
                      '--encoder', str(tmp_path / 'missing.safetensors'),
                      '--pooled'] + PRE)


def test_image_encoder_per_frame(demo_videos, tmp_path, capsys):
    """--image-encoder: a transformers image model on every frame (the zoo's
    SigLIP 2 / DINO baselines), equal to PerFrameImageEncoder run on the
    pipeline's clip; only the mean can be pooled."""
    from mmivnext.models.backbones import PerFrameImageEncoder
    from mmivnext.testing import save_tiny_siglip
    siglip = save_tiny_siglip(str(tmp_path / 'siglip'), hidden_size=32,
                              num_heads=2, image_size=32)
    out = str(tmp_path / 'out')
    extract.main([demo_videos['val_list'], out, '--image-encoder', siglip,
                  '--pooled', '--tokens'] + PRE)
    record = read_manifest(out)[0]
    # 4 frames of 28 px, each resized to the model's 32 px: 2 x 2 tokens.
    assert record['shapes'] == dict(pooled=[32], tokens=[4, 2, 2, 32])
    arrays = load_file(osp.join(out, record['outputs']['tokens']))

    pipeline = build_pipeline(pipeline_cfg(
        num_frames=4, num_clips=1, short_side=32, crop_size=28))
    imgs = pipeline(dict(filename=record['filename'], start_index=0,
                         modality='RGB'))['imgs']
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    clips = (torch.from_numpy(imgs).float() - mean) / std
    encoder = PerFrameImageEncoder(pretrained=siglip, out_type='featmap')
    with torch.no_grad():
        featmap = encoder(clips)[0]  # [C, T, h, w]
    assert_close(arrays['tokens'], featmap.permute(1, 2, 3, 0))
    assert_close(arrays['pooled'], featmap.mean(dim=(1, 2, 3)))
    for pooled in ('cls', 'projected'):
        with pytest.raises(SystemExit):
            extract.main([demo_videos['val_list'], str(tmp_path / pooled),
                          '--image-encoder', siglip, '--pooled', pooled]
                         + PRE)
        assert 'mean of its patch tokens only' in capsys.readouterr().err
    with pytest.raises(SystemExit):  # two encoders
        extract.main([demo_videos['val_list'], str(tmp_path / 'two'),
                      '--image-encoder', siglip, '--encoder', 'x.safetensors',
                      '--pooled'] + PRE)
    assert 'give one encoder' in capsys.readouterr().err


@pytest.mark.parametrize('fmt', ['safetensors', 'npy'])
def test_resume_redoes_incomplete_done_outputs(demo_videos, encoder_file,
                                               tmp_path, capsys, fmt):
    """A done video whose output is empty, cut short or of other shapes is
    extracted again on rerun, saying so; complete ones are kept."""
    out = str(tmp_path / 'out')
    argv = [demo_videos['val_list'], out, '--encoder', encoder_file,
            '--pooled', '--tokens', '--format', fmt, '--batch-size',
            '6'] + PRE
    extract.main(argv)
    name = 'pooled.npy' if fmt == 'npy' else 'safetensors'
    path = {i: osp.join(out, 'val', f'video_{i:05d}.{name}') for i in range(4)}
    complete = {i: open(p, 'rb').read() for i, p in path.items()}
    kept = os.stat(path[3]).st_mtime_ns
    open(path[0], 'wb').close()  # zero bytes
    with open(path[1], 'wb') as f:  # the last 4 bytes missing
        f.write(complete[1][:-4])
    with open(path[2], 'wb') as f:  # 4 bytes too many
        f.write(complete[2] + b'\0' * 4)
    capsys.readouterr()
    summary = extract.main(argv)
    assert summary['redone'] == 3 and summary['done'] == 3
    assert summary['skipped'] == 3
    err = capsys.readouterr().err
    for i in range(3):
        assert f'val/video_{i:05d}.mp4: listed as done in the manifest, ' \
            f'but {path[i]} is incomplete or corrupt' in err
    for i in range(3):
        with open(path[i], 'rb') as f:
            assert f.read() == complete[i]
    assert os.stat(path[3]).st_mtime_ns == kept
    # Another shape than the manifest's (e.g. a file copied over it).
    records = {r['video']: r for r in read_manifest(out)}
    if fmt == 'npy':
        np.save(path[3], np.zeros(8, np.float32))
    else:
        save_file({'pooled': torch.zeros(8), 'tokens': torch.zeros(
            records['val/video_00003.mp4']['shapes']['tokens'])}, path[3])
    summary = extract.main(argv)
    assert summary['redone'] == 1
    assert 'holds pooled of shape [8], the manifest says [32]' in \
        capsys.readouterr().err


def test_outputs_are_written_atomically(demo_videos, encoder_file, tmp_path,
                                        monkeypatch):
    """A kill while an output is written leaves neither a partial output
    nor a manifest line nor a temporary file; the rerun extracts it."""
    out = str(tmp_path / 'out')
    argv = [demo_videos['val_list'], out, '--encoder', encoder_file,
            '--pooled', '--format', 'npy', '--batch-size', '2'] + PRE
    save = np.save
    calls = []

    def killed(file, array):
        calls.append(file)
        if len(calls) == 2:
            file.write(b'\x93NUMPY partial')
            raise KeyboardInterrupt
        save(file, array)

    monkeypatch.setattr(np, 'save', killed)
    with pytest.raises(KeyboardInterrupt):
        extract.main(argv)
    monkeypatch.setattr(np, 'save', save)
    assert sorted(os.listdir(osp.join(out, 'val'))) == [
        'video_00000.pooled.npy']
    assert [r['video'] for r in read_manifest(out)] == ['val/video_00000.mp4']
    summary = extract.main(argv)
    assert summary['skipped'] == 1 and summary['done'] == 5
    assert summary['redone'] == 0


# -------------------------------------------------- sliding windows, shards
#: 16-frame demo videos at 8 fps: windows of 8 frames every 4 frames.
WINDOWS = [[0, 8], [4, 12], [8, 16]]
WIN = ['--window', '8', '--stride', '4']


def test_windows_equal_direct_forward_per_window(demo_videos, encoder_file,
                                                 tmp_path):
    out = str(tmp_path / 'out')
    # 2 windows per forward: a video's 3 windows come in 2 chunks.
    summary = extract.main([osp.join(demo_videos['root'], 'val'), out,
                            '--encoder', encoder_file, '--pooled', '--tokens',
                            '--backend', 'pyav', '--batch-size', '2'] +
                           WIN + PRE)
    assert summary['done'] == 6
    record = read_manifest(out)[2]
    assert record['num_windows'] == 3
    assert record['shapes']['window_frames'] == [3, 2]
    arrays = load_file(osp.join(out, record['outputs']['pooled']))
    assert arrays['window_frames'].dtype == torch.int64
    assert arrays['window_frames'].tolist() == WINDOWS
    assert_close(arrays['window_seconds'],
                 torch.tensor(WINDOWS, dtype=torch.float64) / 8.0)
    # Each window's clip: frames 1, 3, 5, 7 of the window, one forward each.
    pipeline = pipeline_cfg(num_frames=4, short_side=32, crop_size=28,
                            backend='pyav', window=8, stride=4)
    results = build_pipeline(pipeline)(dict(
        filename=record['filename'], start_index=0, modality='RGB'))
    assert results['frame_inds'].reshape(3, 4).tolist() == [
        [s + 1, s + 3, s + 5, s + 7] for s, _ in WINDOWS]
    clips = torch.from_numpy(results['imgs']).float()  # [3, 3, 4, 28, 28]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    encoder = feature_extraction.load_exported_encoder(encoder_file).eval()
    with torch.no_grad():
        tokens = encoder((clips - mean) / std)[:, 2:]  # [3, N, C]
    assert_close(arrays['pooled'], tokens.mean(dim=1))
    assert arrays['tokens'].shape[0] == 3
    assert_close(arrays['tokens'].flatten(1, 3), tokens)
    with open(osp.join(out, 'extract_settings.json')) as f:
        assert json.load(f)['pipeline'][:2] == pipeline[:2]


def test_shards_resume_and_merge(demo_videos, encoder_file, tmp_path):
    out, val = str(tmp_path / 'out'), osp.join(demo_videos['root'], 'val')
    argv = [val, out, '--encoder', encoder_file, '--pooled', '--format',
            'npy'] + WIN + PRE
    names = [f'video_{i:05d}.mp4' for i in range(6)]
    merge = [val, out, '--merge']
    assert extract.main(argv + ['--shard', '0/2'])['done'] == 3
    shard0 = osp.join(out, 'manifest.shard-0-of-2.jsonl')
    with open(shard0) as f:
        assert [json.loads(line)['video'] for line in f] == names[0::2]
    with pytest.raises(SystemExit, match=r'3 videos without a record .*'
                       'video_00001.mp4, video_00003.mp4'):
        extract.main(merge)
    assert extract.main(argv + ['--shard', '1/2'])['done'] == 3
    # A rerun of a shard skips its finished videos.
    assert extract.main(argv + ['--shard', '1/2'])['skipped'] == 3
    os.remove(osp.join(out, 'video_00004.window_frames.npy'))
    with pytest.raises(SystemExit, match='1 videos listed as done whose '
                       'outputs fail the check .*video_00004'):
        extract.main(merge)
    assert not osp.exists(osp.join(out, 'manifest.jsonl'))
    assert extract.main(argv + ['--shard', '0/2'])['done'] == 1

    summary = extract.main(merge)
    assert summary['done'] == 6 and summary['failed'] == 0
    assert [r['video'] for r in read_manifest(out)] == names
    assert not [f for f in os.listdir(out) if 'shard' in f]
    # The merged manifest serves any later run, sharded or not.
    assert extract.main(argv)['skipped'] == 6
    assert extract.main(argv + ['--shard', '2/3'])['skipped'] == 2


@pytest.mark.parametrize('extra,message', [
    (['--stride', '4'], '--stride needs --window'),
    (['--window', '8', '--num-clips', '2'], 'excludes --frame-interval'),
    (['--window', '0'], '--window must be >= 1'),
    (['--shard', '2/2'], r'--shard must be i/n with 0 <= i < n'),
    (['--merge'], r"--merge takes the video list.*\['--encoder', "
     "'--pooled'"),
    (['--decode-threads', '-1'], '--decode-threads must be >= 0'),
])
def test_window_and_shard_arguments(extra, message, encoder_file, capsys):
    with pytest.raises(SystemExit):
        extract.parse_args(['videos', 'out', '--encoder', encoder_file,
                            '--pooled'] + extra)
    assert re.search(message, capsys.readouterr().err)
