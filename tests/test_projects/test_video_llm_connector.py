"""projects/video_llm_connector: a connector between a frozen encoder and a
frozen Qwen2, trained and evaluated through tools/train.py and tools/test.py
on the demo videos."""
import json
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from mmivnext.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmivnext.utils.checkpoint_io import load_checkpoint_file
from script_helpers import ROOT, load_script

CONFIG = osp.join(
    ROOT, 'projects/video_llm_connector/configs/'
    'connector_vit-tiny-p16_qwen2-tiny_1xb12-8x32-3e_demo-videos.py')


def _sample(**metainfo):
    sample = ActionDataSample()
    sample.set_metainfo(metainfo)
    return sample


def _build_model(**connector):
    cfg = Config.fromfile(CONFIG)
    import_modules_from_strings(**cfg.custom_imports)
    cfg.model.connector.update(connector)
    with DefaultScope.overwrite_default_scope('mmivnext'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_train_then_multiple_choice(in_demo_dir):
    """One epoch (3 steps) of tools/train.py, then tools/test.py on the
    shape and direction questions."""
    work = 'work_dirs/connector_test'
    load_script('tools/train.py').main([
        CONFIG, '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.interval=1', 'log_level=WARNING'])
    checkpoint = osp.join(work, 'epoch_1.pth')
    state = load_checkpoint_file(checkpoint)['state_dict']
    # The LLM is not in the checkpoint; the frozen encoder is, unchanged.
    assert not any(key.startswith('llm.') for key in state)
    assert {k for k in state if k.startswith('connector.')} == {
        'connector.mlp.0.weight', 'connector.mlp.0.bias',
        'connector.mlp.2.weight', 'connector.mlp.2.bias'}
    for key, value in load_checkpoint_file(in_demo_dir['encoder']).items():
        torch.testing.assert_close(state['backbone.' + key], value,
                                   rtol=0, atol=0)

    load_script('tools/test.py').main(
        [CONFIG, checkpoint, '--work-dir', work, '--out', 'mcq.json'])
    with open('mcq.json') as f:
        metrics = json.load(f)['metrics']
    assert set(metrics) == {'acc', 'acc/shape', 'acc/direction',
                            'mean_task_acc'}
    # 12 shape and 12 direction questions.
    assert metrics['acc'] == pytest.approx(
        (metrics['acc/shape'] + metrics['acc/direction']) / 2)
    assert metrics['acc/shape'] * 12 / 100 == pytest.approx(
        round(metrics['acc/shape'] * 12 / 100))


def test_frozen_llm_and_encoder(in_demo_dir):
    model = _build_model()
    model.train()
    llm = model.llm.model
    assert not llm.training and not model.backbone.training
    assert not any(p.requires_grad for p in llm.parameters())
    assert not any(k.startswith('llm.') for k in model.state_dict())
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='mmivnext.LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=1e-3))))(
            model)
    optimized = {id(p) for group in wrapper.optimizer.param_groups
                 for p in group['params']}
    assert optimized == {id(p) for p in model.connector.parameters()}
    # The loss reaches the connector through the frozen LLM.
    sample = _sample(prompt='Which shape is in the video?',
                     response='circle')
    losses = model.loss(torch.randn(1, 1, 3, 8, 32, 32), [sample])
    losses['loss_lm'].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.connector.parameters())
    assert all(p.grad is None for p in llm.parameters())


def test_visual_token_budget(in_demo_dir):
    featmap = torch.randn(2, 32, 8, 2, 2)  # the tiny encoder's grid
    for grid in [(2, 2, 2), (4, 1, 2), (1, 1, 1)]:
        connector = _build_model(token_grid=grid).connector
        assert connector(featmap).shape == (2, grid[0] * grid[1] * grid[2],
                                            32)
    # (1, 1, 1): one token, the MLP of the grid's mean.
    torch.testing.assert_close(
        connector(featmap)[:, 0], connector.mlp(featmap.mean((2, 3, 4))))
    with pytest.raises(ValueError, match='larger than the encoder grid'):
        _build_model(token_grid=(2, 4, 2)).connector(featmap)


def test_mcq_scores_are_candidate_log_likelihoods(in_demo_dir):
    """The batched, padded scores equal each candidate's log-likelihood
    computed alone (float64, so both sums agree to rounding)."""
    model = _build_model().double().eval()
    clips = torch.randn(2, 1, 3, 8, 32, 32, dtype=torch.float64)
    samples = [
        _sample(question='Which shape is in the video?',
                candidates=['circle', 'square', 'triangle'], answer=2,
                task='shape'),
        _sample(question='Which way does the shape move?',
                candidates=['left', 'down'], answer=0, task=None),
    ]
    with torch.no_grad():
        outputs = model.predict(clips, samples)
        visual = model.extract_visual_tokens(clips)
        llm, tok = model.llm.model, model.llm.tokenizer
        for out, tokens, sample in zip(outputs, visual, samples):
            expected = []
            for candidate in sample.metainfo['candidates']:
                pre = tok(model.prefix, add_special_tokens=False).input_ids
                text = tok(model.question_part.format(
                    question=sample.metainfo['question']) + candidate +
                    '<|im_end|>', add_special_tokens=False).input_ids
                target = tok(candidate + '<|im_end|>',
                             add_special_tokens=False).input_ids
                embed = llm.get_input_embeddings()
                seq = torch.cat([embed(torch.tensor(pre)), tokens,
                                 embed(torch.tensor(text))])[None]
                logp = llm(inputs_embeds=seq).logits[0].log_softmax(-1)
                n = len(target)
                expected.append(sum(
                    logp[seq.shape[1] - n - 1 + i, target[i]]
                    for i in range(n)))
            torch.testing.assert_close(out['mcq_scores'],
                                       torch.stack(expected).cpu())
            assert out['gt_answer'] == sample.metainfo['answer']
