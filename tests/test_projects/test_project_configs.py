"""Every project config parses, and names registered classes that fit."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from mmivnext.registry import DATASETS, METRICS, MODELS
from script_helpers import ROOT

CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')))


def test_both_projects_have_configs():
    projects = {p.split(osp.sep)[-3] for p in CONFIGS}
    assert projects == {'lit_retrieval', 'video_llm_connector'}


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_config_names_registered_classes(path, monkeypatch):
    monkeypatch.syspath_prepend(ROOT)
    cfg = Config.fromfile(path)
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmivnext'):
        assert MODELS.get(cfg.model.type) is not None
        assert MODELS.get(cfg.model.backbone.type) is not None
        for loader in ('train_dataloader', 'test_dataloader'):
            assert DATASETS.get(cfg[loader].dataset.type) is not None
        assert METRICS.get(cfg.test_evaluator.type) is not None
    out_type = cfg.model.backbone.out_type
    if 'lit_retrieval' in path:
        assert out_type in ('projected', 'avg_featmap')
        projector = cfg.model.backbone.get('projector_cfg')
        if out_type == 'projected':  # the width of the projector output
            assert cfg.model.video_embed_dims == projector['out_dims']
    else:
        assert out_type == 'featmap'
