"""Strategies of MMEngine's ``FlexibleRunner`` (see ``docs/scale_out.md``)."""
from .fsdp_strategy import (AnyDeviceFSDPStrategy, classes_named,
                            move_frozen_teachers)

__all__ = ['AnyDeviceFSDPStrategy', 'classes_named', 'move_frozen_teachers']
