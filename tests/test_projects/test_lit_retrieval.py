"""projects/lit_retrieval: LiT on a frozen encoder, trained and evaluated
through tools/train.py and tools/test.py on the demo videos."""
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from mmivnext.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmivnext.utils.checkpoint_io import load_checkpoint_file
from script_helpers import ROOT, load_script

CONFIGS = osp.join(ROOT, 'projects/lit_retrieval/configs')
TRAIN_CFG = osp.join(
    CONFIGS, 'lit_vit-tiny-p16_open-clip-tiny_1xb12-8x32-4e_demo-videos.py')
ZERO_SHOT_CFG = osp.join(
    CONFIGS, 'zeroshot-cls_vit-tiny-p16_open-clip-tiny_demo-videos.py')


def _build_model(cfg_file, **backbone):
    """The config's model, built in mmivnext's scope with its encoder
    weights loaded (as the runner's init_weights does)."""
    cfg = Config.fromfile(cfg_file)
    import_modules_from_strings(**cfg.custom_imports)
    cfg.model.backbone.update(backbone)
    with DefaultScope.overwrite_default_scope('mmivnext'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_train_then_retrieval_and_zero_shot(in_demo_dir):
    """Two epochs of tools/train.py, then tools/test.py for retrieval and
    for zero-shot classification over the class prompts."""
    work = 'work_dirs/lit_test'
    load_script('tools/train.py').main([
        TRAIN_CFG, '--work-dir', work, '--cfg-options',
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', 'log_level=WARNING'])
    checkpoint = osp.join(work, 'epoch_2.pth')
    state = load_checkpoint_file(checkpoint)['state_dict']
    # The frozen encoder is saved unchanged; the text side trained.
    encoder = load_checkpoint_file(in_demo_dir['encoder'])
    for key, value in encoder.items():
        torch.testing.assert_close(state['backbone.' + key], value,
                                   rtol=0, atol=0)
    text = load_checkpoint_file(osp.join(in_demo_dir['open_clip'],
                                         'open_clip_model.safetensors'))
    assert not torch.equal(state['text_encoder.text.text_projection'],
                           text['text.text_projection'])

    test = load_script('tools/test.py')
    test.main([TRAIN_CFG, checkpoint, '--work-dir', work,
               '--out', 'retrieval.json'])
    with open('retrieval.json') as f:
        metrics = json.load(f)['metrics']
    for direction in ('t2v', 'v2t'):
        for k in (1, 5, 10):
            assert 0 <= metrics[f'{direction}_R@{k}'] <= 100
        # 12 videos, 24 captions: the median rank is inside the gallery.
        assert 1 <= metrics[f'{direction}_MdR'] <= (12 if direction == 't2v'
                                                    else 24)
    assert metrics['t2v_R@10'] >= metrics['t2v_R@5'] >= metrics['t2v_R@1']

    test.main([ZERO_SHOT_CFG, checkpoint, '--work-dir', work,
               '--out', 'zero_shot.json'])
    with open('zero_shot.json') as f:
        metrics = json.load(f)['metrics']
    assert set(metrics) == {'zeroshot_top1_acc', 'zeroshot_top5_acc',
                            'zeroshot_mean_recall@1',
                            'zeroshot_mean_recall@5'}
    # 12 val videos, one per class: top-k accuracy is a multiple of 1/12.
    for k in (1, 5):
        assert (metrics[f'zeroshot_top{k}_acc'] * 12 / 100) == \
            pytest.approx(round(metrics[f'zeroshot_top{k}_acc'] * 12 / 100))


def test_video_embedding_is_the_projector_or_the_token_mean(in_demo_dir):
    clips = torch.randn(2, 1, 3, 8, 32, 32)
    projected = _build_model(TRAIN_CFG)
    mean = _build_model(TRAIN_CFG, out_type='avg_featmap')
    raw = _build_model(TRAIN_CFG, out_type='raw').backbone
    with torch.no_grad():
        tokens = raw(clips[:, 0])  # [2, 1 cls + 2 * 2 * 8, 32]
        expected_proj = F.normalize(raw.projector(tokens).squeeze(1), dim=-1)
        expected_mean = F.normalize(tokens[:, 1:].mean(1), dim=-1)
        torch.testing.assert_close(
            projected.extract_video_feat(clips), expected_proj)
        torch.testing.assert_close(mean.extract_video_feat(clips),
                                   expected_mean)


def test_frozen_encoder_stays_out_of_training(in_demo_dir):
    model = _build_model(TRAIN_CFG)
    model.train()
    assert not model.backbone.training
    assert model.text_encoder.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='mmivnext.LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=1e-3))))(
            model)
    optimized = {id(p) for group in wrapper.optimizer.param_groups
                 for p in group['params']}
    assert not optimized & {id(p) for p in model.backbone.parameters()}
    assert optimized == {id(p) for p in model.parameters()
                         if p.requires_grad}
    assert id(model.logit_scale) in optimized


def test_dataset_names_bad_entries(tmp_path, in_demo_dir):
    from projects.lit_retrieval.lit_retrieval import VideoTextDataset
    ann = tmp_path / 'bad.json'
    ann.write_text(json.dumps([{'video': 'a.mp4', 'caption': 'ok'},
                               {'video': 'b.mp4', 'captions': []}]))
    with pytest.raises(ValueError, match=r'bad.json: entry 1: captions'):
        VideoTextDataset(str(ann), pipeline=[])
    ann.write_text(json.dumps([{'video': 'a.mp4', 'captions': ['x', 'y']}]))
    train = VideoTextDataset(str(ann), pipeline=[])
    assert [train.get_data_info(i)['caption'] for i in range(2)] == ['x', 'y']
    test = VideoTextDataset(str(ann), pipeline=[], test_mode=True)
    assert len(test) == 1 and test.get_data_info(0)['captions'] == ['x', 'y']
