"""Weight initialisation: the one convention of every mmivnext module.

1. **Random init at construction.** A module draws its default weights in
   ``__init__`` (a ``_default_init()`` method, or ``reset_parameters()`` of a
   layer), so it is usable as soon as it is built, as PyTorch modules and the
   authors' encoders are.
2. **``init_weights()`` applies the config's ``init_cfg`` only** (MMEngine's
   ``BaseModule`` semantics, called by the runner before training): an explicit
   override, or a checkpoint to load (``type='Pretrained'``; encoders load it
   strictly, :func:`~mmivnext.utils.encoder_loading.load_pretrained`).
   Modules have no default ``init_cfg`` and never re-draw their default init
   there, so weights that were loaded (a checkpoint, ``load_state_dict``) are
   never overwritten by it. Algorithms that start from another stage's
   checkpoint (``init_checkpoint``) load it in ``init_weights()`` too.
3. **Parts whose weights come from elsewhere load them at construction** (the
   frozen teachers, the per-frame image encoders) and mark themselves
   initialised (``_is_init = True``), so ``init_weights()`` never reaches them.
"""
import torch
from torch import nn


@torch.no_grad()
def init_linear_and_norm_(module: nn.Module, std: float) -> None:
    """Truncated-normal ``Linear`` weights (``std``) with zero biases, and
    unit / zero norm affines (``LayerNorm``, ``RMSNorm``), for every
    submodule of ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if getattr(m, 'bias', None) is not None:
                nn.init.zeros_(m.bias)


@torch.no_grad()
def xavier_linear_(module: nn.Module) -> None:
    """Xavier-uniform ``Linear`` weights with zero biases for every
    submodule of ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
