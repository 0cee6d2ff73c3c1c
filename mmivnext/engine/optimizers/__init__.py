"""Optimizer wrappers and optimizer wrapper constructors."""
from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .layer_decay_optim_wrapper_constructor import \
    LayerDecayOptimWrapperConstructor
from .sync_free_optim_wrapper import (DeferredGradNormMixin,
                                      SyncFreeOptimWrapper)

__all__ = [
    'AnyDeviceAmpOptimWrapper', 'DeferredGradNormMixin',
    'LayerDecayOptimWrapperConstructor', 'SyncFreeOptimWrapper'
]
