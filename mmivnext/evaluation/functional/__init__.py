"""Plain functions on feature tensors, shared by hooks and tools."""
from .representation import (effective_rank, feature_std, fit_linear_probe,
                             knn_top1, linear_probe_top1, pool_features)

__all__ = ['pool_features', 'feature_std', 'effective_rank', 'knn_top1',
           'fit_linear_probe', 'linear_probe_top1']
