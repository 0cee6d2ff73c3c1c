"""Registries of mmivnext.

Every registry here is a child of mmaction2's registry of the same kind, which is
itself a child of MMEngine's root registry. That gives three lookups users rely on:

* in mmivnext's scope (``default_scope = 'mmivnext'``), names that mmivnext does not
  define fall through to mmaction2 (``DecordInit``, ``Recognizer3D``,
  ``ActionDataPreprocessor``...) and then to MMEngine (``EpochBasedTrainLoop``...);
* in mmaction2's scope, ``type='mmivnext.VisionTransformer3D'`` finds this package's
  classes, importing ``mmivnext.registry`` on demand;
* in any other OpenMMLab scope, the same scoped name works through the root registry.

A parent's classes are found only if the parent's modules were imported, and MMEngine
imports the ``locations`` of the registry being searched only. So each registry lists
its mmaction2 counterpart's location after its own: building anything in mmivnext's
scope imports both (mmivnext first, so that :mod:`mmivnext.utils.compat` has patched
upstream breakage before mmaction2's models are imported).
"""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import EVALUATOR as MMACTION_EVALUATOR
from mmaction.registry import FUNCTION as MMACTION_FUNCTION
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import LOG_PROCESSORS as MMACTION_LOG_PROCESSORS
from mmaction.registry import LOOPS as MMACTION_LOOPS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODEL_WRAPPERS as MMACTION_MODEL_WRAPPERS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import OPTIMIZERS as MMACTION_OPTIMIZERS
from mmaction.registry import PARAM_SCHEDULERS as MMACTION_PARAM_SCHEDULERS
from mmaction.registry import RUNNERS as MMACTION_RUNNERS
from mmaction.registry import TASK_UTILS as MMACTION_TASK_UTILS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISBACKENDS as MMACTION_VISBACKENDS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmaction.registry import \
    WEIGHT_INITIALIZERS as MMACTION_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'mmivnext'

# Runners and loops.
RUNNERS = Registry('runner', parent=MMACTION_RUNNERS, scope=SCOPE,
                   locations=['mmaction.engine.runner'])
LOOPS = Registry('loop', parent=MMACTION_LOOPS, scope=SCOPE,
                 locations=['mmaction.engine.runner'])
HOOKS = Registry('hook', parent=MMACTION_HOOKS, scope=SCOPE,
                 locations=['mmivnext.engine.hooks', 'mmaction.engine.hooks'])

# Data.
DATASETS = Registry('dataset', parent=MMACTION_DATASETS, scope=SCOPE,
                    locations=['mmivnext.datasets', 'mmaction.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMACTION_DATA_SAMPLERS,
                         scope=SCOPE, locations=['mmaction.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMACTION_TRANSFORMS, scope=SCOPE,
    locations=['mmivnext.datasets.transforms',
               'mmaction.datasets.transforms'])
# mmaction2 registers no functions (collate functions live in MMEngine's root).
FUNCTIONS = Registry('function', parent=MMACTION_FUNCTION, scope=SCOPE)

# Models.
MODELS = Registry('model', parent=MMACTION_MODELS, scope=SCOPE,
                  locations=['mmivnext.models', 'mmaction.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMACTION_MODEL_WRAPPERS,
                          scope=SCOPE, locations=['mmaction.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMACTION_WEIGHT_INITIALIZERS,
                               scope=SCOPE, locations=['mmaction.models'])
TASK_UTILS = Registry('task util', parent=MMACTION_TASK_UTILS, scope=SCOPE,
                      locations=['mmaction.models'])

# Optimisation.
OPTIMIZERS = Registry('optimizer', parent=MMACTION_OPTIMIZERS, scope=SCOPE,
                      locations=['mmaction.engine.optimizers'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMACTION_OPTIM_WRAPPERS, scope=SCOPE,
    locations=['mmivnext.engine.optimizers', 'mmaction.engine.optimizers'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMACTION_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE,
    locations=['mmaction.engine.optimizers'])
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMACTION_PARAM_SCHEDULERS, scope=SCOPE,
                            locations=['mmaction.engine'])

# Evaluation and logging.
METRICS = Registry('metric', parent=MMACTION_METRICS, scope=SCOPE,
                   locations=['mmaction.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMACTION_EVALUATOR, scope=SCOPE,
                     locations=['mmaction.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMACTION_VISUALIZERS, scope=SCOPE,
                       locations=['mmaction.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMACTION_VISBACKENDS,
                       scope=SCOPE, locations=['mmaction.visualization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMACTION_LOG_PROCESSORS,
                          scope=SCOPE, locations=['mmaction.engine'])
