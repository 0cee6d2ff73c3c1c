"""tools/data/make_synthetic_ek100.py and tools/data/ek100_action_map.py."""
import importlib.util
import os.path as osp

from mmivnext.datasets import load_action_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool(name):
    path = osp.join(ROOT, 'tools', 'data', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_the_set_then_its_action_map(tmp_path, capsys):
    out = tmp_path / 'ek'
    _tool('make_synthetic_ek100').main(
        ['--out-dir', str(out), '--num-train', '1', '--num-val', '1',
         '--events', '2'])
    _tool('ek100_action_map').main(
        [str(out / 'EPIC_100_train.csv'), str(tmp_path / 'actions.csv'),
         '--verb-classes', str(out / 'EPIC_100_verb_classes.csv'),
         '--noun-classes', str(out / 'EPIC_100_noun_classes.csv')])
    assert 'model.head.num_actions=2' in capsys.readouterr().out
    assert load_action_map(str(tmp_path / 'actions.csv')) == \
        load_action_map(str(out / 'actions.csv')) == {(0, 0): 0, (1, 0): 1}
    with open(tmp_path / 'actions.csv') as f:
        assert f.read().splitlines()[1] == '0,0,0,reach-left_circle'
