"""model-index.yml and the metafiles (OpenMMLab's format) against the
configs on disk: every config is indexed once under its own name, every
entry's config exists, and the quoted results are the paper's."""
import glob
import os.path as osp
import re

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER = '/work/shared/paper/internvideo-next.txt'
MODEL_KEYS = {'Name', 'In Collection', 'Config', 'Metadata', 'Results',
              'Weights'}
#: ``{algorithm}_{backbone}_{gpus}xb{batch}-{clip}-{epochs}e_{data}`` (see
#: configs/README.md).
NAME = re.compile(r'^[a-z0-9-]+_[a-z0-9-]+_(?P<gpus>\d+)xb(?P<batch>\d+)-'
                  r'[0-9a-z]+-(?P<epochs>\d+)e_[a-z0-9-]+$')


def _load(path):
    with open(osp.join(ROOT, path)) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def metafiles():
    return {path: _load(path) for path in _load('model-index.yml')['Import']}


@pytest.fixture(scope='module')
def models(metafiles):
    return [model for meta in metafiles.values() for model in meta['Models']]


def test_index_imports_every_metafile(metafiles):
    on_disk = sorted(osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs/**/metafile.yml'), recursive=True))
    assert sorted(metafiles) == on_disk


def test_every_config_is_indexed_once_under_its_name(models):
    configs = sorted(
        osp.relpath(p, ROOT)
        for p in glob.glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True)
        if '/_base_/' not in p and '__pycache__' not in p)
    indexed = [m['Config'] for m in models]
    assert sorted(indexed) == configs
    names = [m['Name'] for m in models]
    assert len(set(names)) == len(names), 'repeated model names'
    for model in models:
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]


def test_entries_follow_the_format(metafiles):
    for path, meta in metafiles.items():
        collections = {c['Name'] for c in meta['Collections']}
        for collection in meta['Collections']:
            assert osp.isfile(osp.join(ROOT, collection['README'])), path
            assert collection['Paper']['Title'].startswith('InternVideo-Next')
        for model in meta['Models']:
            where = f'{path}: {model.get("Name")}'
            assert set(model) == MODEL_KEYS, where
            assert model['In Collection'] in collections, where
            assert model['Weights'] is None or isinstance(model['Weights'],
                                                          str), where
            metadata = model['Metadata']
            match = NAME.match(model['Name'])
            if match:  # the name's facts, as configs/README.md defines them
                assert metadata['Epochs'] == int(match['epochs']), where
                assert metadata['Batch Size'] == \
                    int(match['gpus']) * int(match['batch']), where
            for result in model['Results']:
                assert set(result) == {'Task', 'Dataset', 'Metrics'}, where
                assert all(isinstance(v, float)
                           for v in result['Metrics'].values()), where
            if model['Results']:
                assert metadata['Results From'].startswith(
                    'InternVideo-Next paper, '), where


@pytest.mark.skipif(not osp.isfile(PAPER), reason='paper text not here')
def test_quoted_results_are_in_the_cited_paper_rows(models):
    """Each model's figures appear together, in order, in one line of the
    paper's text (a table row or the sentence cited)."""
    with open(PAPER) as f:
        lines = f.read().splitlines()
    quoted = [m for m in models if m['Results']]
    assert len(quoted) >= 40
    for model in quoted:
        values = [f'{v:.1f}' for r in model['Results']
                  for v in r['Metrics'].values()]
        pattern = re.compile(r'\D' + r'\D.*?\D'.join(
            re.escape(v) for v in values) + r'(\D|$)')
        assert any(pattern.search(line) for line in lines), \
            f'{model["Name"]}: {values} not in one line of the paper'
