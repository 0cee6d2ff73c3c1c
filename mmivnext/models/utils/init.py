"""Weight initialisation shared by the probe heads."""
import torch
from torch import nn


@torch.no_grad()
def init_linear_and_norm_(module: nn.Module, std: float) -> None:
    """Truncated-normal ``Linear`` weights (``std``) with zero biases, and
    unit / zero ``LayerNorm`` affines, for every submodule of ``module``
    (the ViT / probe-head convention)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
