"""Training engine parts: hooks and optimizer wrappers."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
