"""AttentiveProbeHead and LinearProbeHead: pooling, and the mmaction2 contract
(Recognizer3D on a frozen VisionTransformer3D, trained by a Runner; multi-view
test-time averaging; float32 scores under bfloat16 autocast). Tiny encoders
(width 32, 2 layers, 2 frames of 28 px: 8 patch tokens + 4 cls tokens)."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.structures import ActionDataSample
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.testing import assert_close

from mmivnext.models.heads import AttentiveProbeHead, LinearProbeHead
from mmivnext.registry import MODELS

C, NUM_CLS, NUM_CLASSES = 32, 4, 5
TINY = dict(embed_dims=C, num_layers=2, num_heads=2, feedforward_channels=64)
ATTENTIVE = dict(type='mmivnext.AttentiveProbeHead', num_classes=NUM_CLASSES,
                 in_channels=C, num_heads=2, num_queries=2,
                 num_self_attn_blocks=1, average_clips='prob')
LINEAR = dict(type='mmivnext.LinearProbeHead', num_classes=NUM_CLASSES,
              in_channels=C, num_cls_tokens=NUM_CLS, average_clips='prob')


def attentive(randomize=False, **kwargs):
    """A tiny attentive head; ``randomize`` draws every parameter from
    N(0, 0.5^2), so that attention is far from uniform (at init, queries and
    projections of std 0.02 attend almost uniformly: mean pooling)."""
    torch.manual_seed(0)
    cfg = dict(num_classes=NUM_CLASSES, in_channels=C, num_heads=2)
    head = AttentiveProbeHead(**{**cfg, **kwargs})
    if randomize:
        with torch.no_grad():
            for param in head.parameters():
                param.normal_(0, 0.5)
    return head


# ------------------------------------------------------------ the heads alone
@pytest.mark.parametrize('num_queries,num_blocks', [(1, 0), (3, 2)])
def test_attentive_shapes(num_queries, num_blocks):
    head = attentive(num_queries=num_queries, num_self_attn_blocks=num_blocks)
    assert len(head.pooler.blocks) == num_blocks
    assert head.pooler.query.shape == (1, num_queries, C)
    x = torch.randn(3, 12, C)
    assert head.pool(x).shape == (3, C)
    scores = head(x)
    assert scores.shape == (3, NUM_CLASSES) and scores.dtype == torch.float32
    assert_close(head((x, )), scores)


def test_attentive_matches_reference():
    """One cross-attention block of learnable queries, written out by hand."""
    # float64 inside (scores come out in float32): the SDPA kernel and the
    # formula round differently in fp32; here both round one float64 result.
    head = attentive(randomize=True, num_queries=2).double().eval()
    x = torch.randn(2, 12, C, dtype=torch.float64)
    blk = head.pooler.cross_block
    q = head.pooler.query.expand(2, -1, -1)
    kv = F.layer_norm(x, (C, ), blk.norm1.weight, blk.norm1.bias, 1e-6)

    def split(t):  # [B, N, C] -> [B, h, N, C / h]
        return t.view(2, -1, 2, C // 2).transpose(1, 2)

    attn = split(blk.attn.q(q)) @ split(blk.attn.k(kv)).transpose(-2, -1)
    out = (attn / math.sqrt(C // 2)).softmax(-1) @ split(blk.attn.v(kv))
    q = q + blk.attn.proj(out.transpose(1, 2).reshape(2, 2, C))
    h = F.layer_norm(q, (C, ), blk.norm2.weight, blk.norm2.bias, 1e-6)
    q = q + blk.mlp.fc2(F.gelu(blk.mlp.fc1(h)))
    assert blk.mlp.fc1.out_features == 4 * C
    assert_close(head(x), head.fc_cls(q.mean(1)).float())
    # Not mean pooling: the attention weights are far from uniform.
    assert not torch.allclose(head.pool(x), head.pool(x.mean(1, True)),
                              atol=1e-2)


def test_attentive_pools_with_learnable_queries():
    head = attentive(num_queries=2).eval()
    x = torch.randn(2, 12, C)
    before = head(x)
    with torch.no_grad():
        head.pooler.query[:, 1].normal_()
    assert not torch.allclose(head(x), before)
    # Gradients reach the queries.
    head(x).sum().backward()
    assert head.pooler.query.grad.abs().sum() > 0


@pytest.mark.parametrize('num_blocks', [0, 2])
def test_attentive_is_permutation_invariant_over_tokens(num_blocks):
    # Self-attention is permutation equivariant, so the blocks keep the
    # invariance; pooling from a fixed position (e.g. a cls token) would not.
    # float64 inside: permuted tokens are summed in another order.
    head = attentive(randomize=True, num_queries=3,
                     num_self_attn_blocks=num_blocks).double().eval()
    x = torch.randn(2, 12, C, dtype=torch.float64)
    perm = torch.randperm(12)
    assert_close(head(x[:, perm]), head(x))
    assert not torch.allclose(head(x[:, :6]), head(x))


def test_linear_probe_pools_patch_or_all_tokens():
    torch.manual_seed(0)
    x = torch.randn(4, 12, C)
    for with_cls, tokens in ((False, x[:, NUM_CLS:]), (True, x)):
        head = LinearProbeHead(NUM_CLASSES, C, num_cls_tokens=NUM_CLS,
                               with_cls_tokens=with_cls).eval()
        assert_close(head.pool(x), tokens.mean(1))
        bn = head.norm  # eval: running statistics
        assert not bn.affine and list(bn.parameters()) == []
        with torch.no_grad():
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
        feat = (tokens.mean(1) - bn.running_mean) / torch.sqrt(
            bn.running_var + 1e-6)
        scores = head((x, ))
        assert scores.dtype == torch.float32
        assert_close(scores, head.fc_cls(feat))


def test_linear_probe_norms():
    x = torch.randn(4, 12, C)
    ln = LinearProbeHead(NUM_CLASSES, C, norm='LN')
    assert isinstance(ln.norm, torch.nn.LayerNorm)
    assert_close(ln(x), ln.fc_cls(F.layer_norm(x[:, NUM_CLS:].mean(1), (C, ),
                                               eps=1e-6)))
    plain = LinearProbeHead(NUM_CLASSES, C, norm=None, num_cls_tokens=0)
    assert_close(plain(x), plain.fc_cls(x.mean(1)))


def test_bad_inputs_and_arguments():
    head = attentive()
    with pytest.raises(ValueError, match='one token tensor'):
        head((torch.randn(2, 12, C), torch.randn(2, 12, C)))
    with pytest.raises(ValueError, match="out_type='raw'"):
        head(torch.randn(2, C, 2, 2, 2))  # a featmap
    with pytest.raises(ValueError, match='more than 4 tokens'):
        LinearProbeHead(NUM_CLASSES, C)(torch.randn(2, 4, C))
    with pytest.raises(ValueError, match='num_queries'):
        attentive(num_queries=0)
    with pytest.raises(ValueError, match='norm'):
        LinearProbeHead(NUM_CLASSES, C, norm='GN')
    with pytest.raises(TypeError):  # no **kwargs swallowing typos
        attentive(num_querys=2)
    with pytest.raises(TypeError):
        LinearProbeHead(NUM_CLASSES, C, dropout=0.5)


def test_registered_and_basehead_arguments():
    head = MODELS.build(dict(ATTENTIVE, type='AttentiveProbeHead',
                             average_clips='score', topk=(1, ),
                             label_smooth_eps=0.1,
                             loss_cls=dict(type='CrossEntropyLoss',
                                           loss_weight=2.)))
    assert isinstance(head, AttentiveProbeHead)
    assert head.average_clips == 'score' and head.topk == (1, )
    assert head.label_smooth_eps == 0.1 and head.loss_cls.loss_weight == 2.
    linear = MODELS.build(dict(LINEAR, type='LinearProbeHead',
                               average_clips=None))
    assert isinstance(linear, LinearProbeHead) and linear.average_clips is None


@pytest.mark.parametrize('cfg', [ATTENTIVE, LINEAR], ids=['attn', 'linear'])
def test_float32_scores_under_bf16_autocast(cfg):
    head = MODELS.build(cfg)
    data_samples = [ActionDataSample().set_gt_label(i) for i in (0, 3)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = torch.randn(2, 12, C)
        assert head.fc_cls(x[:, 0]).dtype == torch.bfloat16  # autocast is on
        scores = head(x)
        losses = head.loss(x, data_samples)  # numpy top-k needs float32
    assert scores.dtype == torch.float32
    assert torch.isfinite(losses['loss_cls'])
    assert set(losses) == {'loss_cls', 'top1_acc', 'top5_acc'}
    losses['loss_cls'].backward()
    assert head.fc_cls.weight.grad.abs().sum() > 0


# ------------------------------------------------- in mmaction2's Recognizer3D
def recognizer_cfg(head, backbone_init_cfg=None):
    return dict(
        _scope_='mmaction',
        type='Recognizer3D',
        backbone=dict(
            type='mmivnext.VisionTransformer3D', arch=TINY, img_size=28,
            num_frames=2, num_cls_tokens=NUM_CLS, out_type='raw',
            frozen_stages=TINY['num_layers'], init_cfg=backbone_init_cfg),
        cls_head=dict(head),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], format_shape='NCTHW'))


def video_batch(batch_size, num_views, seed=0):
    """``batch_size`` uint8 clips ``[num_views, 3, 2, 28, 28]`` and labels."""
    gen = torch.Generator().manual_seed(seed)
    return [dict(inputs=torch.randint(0, 256, (num_views, 3, 2, 28, 28),
                                      dtype=torch.uint8, generator=gen),
                 data_samples=ActionDataSample().set_gt_label(i % NUM_CLASSES))
            for i in range(batch_size)]


@pytest.fixture(scope='module')
def backbone_ckpt(tmp_path_factory):
    """Weights of a 'pretrained' tiny encoder, loaded through ``init_cfg``."""
    torch.manual_seed(1)
    backbone = MODELS.build(recognizer_cfg(ATTENTIVE)['backbone'])
    backbone.init_weights()
    path = tmp_path_factory.mktemp('probe') / 'encoder.pth'
    torch.save(dict(state_dict=backbone.state_dict()), path)
    return str(path), {k: v.clone() for k, v in backbone.state_dict().items()}


class SnapshotHook(Hook):
    """Copy the head's weights after init, before the first iteration."""

    def before_train(self, runner):
        self.head = {k: v.clone()
                     for k, v in runner.model.cls_head.state_dict().items()}


class CollectScoresHook(Hook):
    """Collect the averaged test scores of every video."""

    def __init__(self, scores):
        self.scores = scores

    def after_test_iter(self, runner, batch_idx, data_batch, outputs):
        assert data_batch['inputs'][0].shape == (6, 3, 2, 28, 28)
        self.scores += [sample.pred_score for sample in outputs]


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'bf16'])
@pytest.mark.parametrize('head', [ATTENTIVE, LINEAR], ids=['attn', 'linear'])
def test_runner_trains_head_on_frozen_backbone(head, amp, backbone_ckpt,
                                               tmp_path):
    path, pretrained = backbone_ckpt
    snapshot = SnapshotHook()
    optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-2,
                                        weight_decay=0.05))
    if amp:
        optim_wrapper['type'] = 'AnyDeviceAmpOptimWrapper'
    runner = Runner(
        model=recognizer_cfg(head, dict(type='Pretrained', checkpoint=path)),
        work_dir=str(tmp_path),
        experiment_name=f'probe_{head["type"]}_{amp}',
        train_dataloader=dict(
            dataset=video_batch(6, 1), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=optim_wrapper,
        default_hooks=dict(checkpoint=None),
        custom_hooks=[snapshot],
        default_scope='mmivnext',
        randomness=dict(seed=0))
    model = runner.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('cls_head.') for n in trainable)
    runner.train()

    assert runner.iter == 3
    loss = runner.message_hub.get_scalar('train/loss_cls').current()
    assert math.isfinite(loss)
    assert 'train/top1_acc' in runner.message_hub.log_scalars
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, pretrained[key]), key
    changed = [k for k, v in model.cls_head.state_dict().items()
               if not torch.equal(v, snapshot.head[k])]
    assert 'fc_cls.weight' in changed
    if head is ATTENTIVE:
        assert 'pooler.query' in changed and \
            'pooler.blocks.0.attn.qkv.weight' in changed
    else:  # BN without affine parameters: running statistics move
        assert 'norm.running_mean' in changed


@pytest.mark.parametrize('average_clips', ['prob', 'score'])
@pytest.mark.parametrize('num_views', [2, 6])  # 2 clips; 2 clips x 3 crops
@pytest.mark.parametrize('head', [ATTENTIVE, LINEAR], ids=['attn', 'linear'])
def test_predict_averages_views(head, num_views, average_clips):
    torch.manual_seed(0)
    model = MMACTION_MODELS.build(
        recognizer_cfg(dict(head, average_clips=average_clips)))
    model.init_weights()
    model.eval()
    batch = video_batch(3, num_views)
    data = dict(inputs=[d['inputs'] for d in batch],
                data_samples=[d['data_samples'] for d in batch])
    inputs = model.data_preprocessor(dict(data), False)['inputs']
    assert inputs.shape == (3, num_views, 3, 2, 28, 28)
    with torch.no_grad():
        per_view = torch.stack([
            model.cls_head(model.backbone(inputs[:, v]))
            for v in range(num_views)], dim=1)  # [B, V, K]
        preds = model.test_step(data)
    if average_clips == 'prob':
        expected = per_view.softmax(-1).mean(1)
    else:
        expected = per_view.mean(1)
    assert not torch.allclose(per_view[:, 0], per_view[:, 1])
    assert_close(torch.stack([p.pred_score for p in preds]), expected)
    assert [p.pred_label.item() for p in preds] == \
        expected.argmax(-1).tolist()


def test_runner_tests_demo_videos_with_acc_metric(demo_videos, tmp_path):
    """mmaction2's VideoDataset pipeline, 2 clips x 3 crops per video,
    ``AccMetric`` on the averaged scores."""
    pipeline = [
        dict(type='mmaction.DecordInit'),
        dict(type='mmaction.UniformSample', clip_len=2, num_clips=2,
             test_mode=True),
        dict(type='mmaction.DecordDecode'),
        dict(type='mmaction.Resize', scale=(-1, 28)),
        dict(type='mmaction.ThreeCrop', crop_size=28),
        dict(type='mmaction.FormatShape', input_format='NCTHW'),
        dict(type='mmaction.PackActionInputs'),
    ]
    runner = Runner(
        model=recognizer_cfg(ATTENTIVE),
        work_dir=str(tmp_path),
        experiment_name='probe_demo_videos',
        test_dataloader=dict(
            batch_size=3, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='mmaction.VideoDataset', ann_file=demo_videos['val_list'],
                data_prefix=dict(video=demo_videos['root']),
                pipeline=pipeline, test_mode=True)),
        test_cfg=dict(type='TestLoop'),
        test_evaluator=dict(type='mmaction.AccMetric'),
        default_scope='mmivnext')
    scores = []
    runner.register_hook(CollectScoresHook(scores))
    metrics = runner.test()
    assert {'acc/top1', 'acc/top5', 'acc/mean1'} <= set(metrics)
    assert len(scores) == 6  # one averaged score per video
    for score in scores:  # mean of the 6 views' softmaxes
        assert score.shape == (NUM_CLASSES, )
        assert_close(score.sum(), torch.tensor(1.))
