"""The projects' synthetic annotations (mmivnext/testing/video_text.py)
describe what the demo videos show."""
import json

import pytest

from mmivnext.testing import DEMO_CLASSES
from mmivnext.testing.video_text import caption_for_label, class_parts


def _labels(list_file):
    with open(list_file) as f:
        return dict(line.split() for line in f)


def test_captions_and_questions_match_the_labels(video_text_demo):
    paths = video_text_demo
    train = _labels(paths['root'] + '/train.txt')
    val = _labels(paths['root'] + '/val.txt')
    with open(paths['captions_train']) as f:
        captions = json.load(f)
    assert {c['video'] for c in captions} == set(train)
    for c in captions:
        shape, direction = class_parts(int(train[c['video']]))
        assert c['caption'] == f'a {shape} moving {direction}'
    with open(paths['retrieval_val']) as f:
        for entry in json.load(f):
            label = int(val[entry['video']])
            assert entry['captions'] == [caption_for_label(label, 0),
                                         caption_for_label(label, 1)]
    with open(paths['class_prompts']) as f:
        assert f.read().splitlines() == [
            caption_for_label(i) for i in range(len(DEMO_CLASSES))]
    with open(paths['mcq_val']) as f:
        mcqs = json.load(f)
    assert len(mcqs) == 2 * len(val)
    for q in mcqs:
        shape, direction = class_parts(int(val[q['video']]))
        answer = q['answer'] if isinstance(q['answer'], str) \
            else q['candidates'][q['answer']]
        assert answer == (shape if q['task'] == 'shape' else direction)
    with open(paths['instructions_train']) as f:
        responses = {(i['video'], i['prompt']): i['response']
                     for i in json.load(f)}
    assert len(responses) == 3 * len(train)


def test_bad_arguments():
    with pytest.raises(ValueError, match='label must be in'):
        class_parts(12)
    with pytest.raises(ValueError, match='variant'):
        caption_for_label(0, variant=2)
