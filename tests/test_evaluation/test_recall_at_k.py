"""ClassMeanRecallAtK against hand-computed values."""
import pytest
import torch

from mmivnext.evaluation.metrics import ClassMeanRecallAtK


def sample(gt, scores, task='verb'):
    return {f'gt_{task}': gt, f'pred_{task}_score': torch.tensor(scores)}


def evaluate(metric, samples):
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_class_mean_recall_by_hand():
    # 4 classes. Scores rank the classes; "top-k" below lists them.
    samples = [
        sample(0, [.9, .5, .1, .0]),  # top-2 [0, 1]: hit@1, hit@2
        sample(0, [.1, .9, .5, .0]),  # top-2 [1, 2]: miss@1, miss@2
        sample(0, [.5, .9, .1, .0]),  # top-2 [1, 0]: miss@1, hit@2
        sample(1, [.1, .9, .0, .5]),  # top-2 [1, 3]: hit@1, hit@2
        sample(2, [.9, .5, .1, .0]),  # top-2 [0, 1]: miss, miss
        sample(2, [.0, .1, .9, .5]),  # top-2 [2, 3]: hit, hit
    ]
    metric = ClassMeanRecallAtK(topk=(1, 2), tasks=('verb', ),
                                with_accuracy=True)
    result = evaluate(metric, samples)
    # @1: class 0: 1/3, class 1: 1/1, class 2: 1/2; class 3 is absent.
    assert result['verb_mean_recall@1'] == pytest.approx(
        100 * (1 / 3 + 1 + 1 / 2) / 3)
    # @2: class 0: 2/3, class 1: 1, class 2: 1/2.
    assert result['verb_mean_recall@2'] == pytest.approx(
        100 * (2 / 3 + 1 + 1 / 2) / 3)
    # Accuracy is over samples: 3 / 6 and 4 / 6.
    assert result['verb_top1_acc'] == pytest.approx(50.)
    assert result['verb_top2_acc'] == pytest.approx(100 * 4 / 6)


def test_rare_classes_count_as_much_as_frequent_ones():
    # 9 right samples of class 0, 1 wrong sample of class 1: accuracy 90 %,
    # class-mean recall 50 %.
    samples = [sample(0, [1., 0.])] * 9 + [sample(1, [1., 0.])]
    metric = ClassMeanRecallAtK(topk=1, tasks=('verb', ),
                                with_accuracy=True)
    result = evaluate(metric, samples)
    assert result['verb_mean_recall@1'] == pytest.approx(50.)
    assert result['verb_top1_acc'] == pytest.approx(90.)


def test_tasks_k_above_the_class_count_and_tensor_labels():
    samples = []
    for gt_verb, gt_noun in ((0, 1), (1, 1)):
        s = sample(gt_verb, [.2, .8])
        s.update(sample(torch.tensor(gt_noun), [.3, .1, .6], task='noun'))
        samples.append(s)
    metric = ClassMeanRecallAtK(topk=(1, 5), tasks=('verb', 'noun'))
    result = evaluate(metric, samples)
    assert result == pytest.approx({
        'verb_mean_recall@1': 50., 'verb_mean_recall@5': 100.,
        'noun_mean_recall@1': 0., 'noun_mean_recall@5': 100.})


def test_bad_samples_are_named():
    metric = ClassMeanRecallAtK(tasks=('verb', 'noun'))
    with pytest.raises(KeyError, match="'gt_noun'"):
        metric.process(None, [sample(0, [1., 0.])])
    with pytest.raises(ValueError, match='gt_verb=2'):
        metric.process(None, [sample(2, [1., 0.])])
    with pytest.raises(ValueError, match='topk'):
        ClassMeanRecallAtK(topk=(0, 5))
