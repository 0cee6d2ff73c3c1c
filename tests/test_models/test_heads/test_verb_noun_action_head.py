"""AttentiveVerbNounActionHead: one query per task, focal losses."""
import pytest
import torch

from mmivnext.models.heads import AttentiveVerbNounActionHead


def make_head(**kwargs):
    cfg = dict(in_channels=32, num_verbs=5, num_nouns=7, num_actions=11,
               num_heads=2, num_self_attn_blocks=1)
    cfg.update(kwargs)
    return AttentiveVerbNounActionHead(**cfg)


def test_each_task_reads_its_own_query():
    torch.manual_seed(0)
    head = make_head().eval()
    x = torch.randn(3, 9, 32)
    logits = head(x)
    assert {k: tuple(v.shape) for k, v in logits.items()} == dict(
        verb=(3, 5), noun=(3, 7), action=(3, 11))
    pooled = head.pool(x)  # [B, 3, C]
    torch.testing.assert_close(logits['verb'], head.fc_verb(pooled[:, 0]))
    torch.testing.assert_close(logits['noun'], head.fc_noun(pooled[:, 1]))
    torch.testing.assert_close(logits['action'],
                               head.fc_action(pooled[:, 2]))
    # Changing only the noun query changes only the noun logits.
    with torch.no_grad():
        head.pooler.query[:, 1] += 1.
    changed = head(x)
    torch.testing.assert_close(changed['verb'], logits['verb'])
    torch.testing.assert_close(changed['action'], logits['action'])
    assert not torch.allclose(changed['noun'], logits['noun'])


def test_loss_is_the_focal_loss_of_each_task():
    torch.manual_seed(0)
    head = make_head()
    x = torch.randn(2, 9, 32)
    labels = dict(verb=torch.tensor([0, 4]), noun=torch.tensor([6, 1]),
                  action=torch.tensor([10, 3]))
    losses = head.loss(x, labels)
    logits = head(x)
    for task in ('verb', 'noun', 'action'):
        torch.testing.assert_close(
            losses[f'loss_{task}'],
            head.loss_module(logits[task], labels[task]))
    sum(losses.values()).backward()
    assert head.pooler.query.grad.abs().sum() > 0
    with pytest.raises(KeyError, match='action'):
        head.loss(x, dict(verb=labels['verb'], noun=labels['noun']))
    scores = head.scores(logits)
    torch.testing.assert_close(scores['noun'], logits['noun'].sigmoid())


def test_bad_arguments():
    with pytest.raises(ValueError, match='at least one class'):
        make_head(num_actions=0)
    with pytest.raises(ValueError, match=r'C=32'):
        make_head()(torch.randn(2, 9, 16))
