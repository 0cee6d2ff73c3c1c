"""Evaluation: registered MMEngine metrics of the probes."""
from .metrics import *  # noqa: F401,F403
