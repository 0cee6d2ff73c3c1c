"""Training engine parts: runners, hooks, optimizer wrappers and runner
strategies."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .strategies import *  # noqa: F401,F403
from .runner import FlexibleRunner, Runner, build_runner  # noqa: F401
