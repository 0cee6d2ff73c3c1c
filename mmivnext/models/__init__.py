"""Models: the encoder, the Stage-1 parts (teacher, maskers, predictors, heads,
losses), the pretraining algorithms, the dense and temporal probes and the data
preprocessors."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .maskers import *  # noqa: F401,F403
from .predictors import *  # noqa: F401,F403
from .probes import *  # noqa: F401,F403
from .selfsup import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
