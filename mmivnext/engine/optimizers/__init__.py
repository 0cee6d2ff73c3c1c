"""Optimizer wrappers and optimizer wrapper constructors."""
from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .layer_decay_optim_wrapper_constructor import \
    LayerDecayOptimWrapperConstructor

__all__ = ['AnyDeviceAmpOptimWrapper', 'LayerDecayOptimWrapperConstructor']
