"""Models: backbones and data preprocessors (predictors, heads, losses, maskers,
teachers and the stage algorithms come with later issues)."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
