"""The text tower of an open_clip model (MobileCLIP-B in the paper)."""
from typing import List, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from .registry import MODELS


@MODELS.register_module()
class OpenCLIPTextEncoder(BaseModule):
    """Text tower and tokenizer of an open_clip model, loaded pretrained.

    ``pretrained`` is anything ``open_clip.create_model`` takes as a model
    name: a built-in name with a pretrained ``tag`` (``'MobileCLIP-B'``, tag
    ``'datacompdr'``: the paper's text encoder, downloaded from the hub repo
    ``apple/MobileCLIP-B-OpenCLIP``), ``'local-dir:/path'`` (a folder with
    ``open_clip_config.json`` and the weights) or ``'hf-hub:org/repo'`` (a
    hub repo with both). The whole model is loaded strictly (a missing
    checkpoint is an error, never a random init), then the image tower is
    dropped: only ``text`` (token embedding, transformer, final norm and
    text projection) is kept, and trained (LiT). The tokenizer is
    open_clip's for the same name.

    Args:
        pretrained (str): Model name (see above).
        tag (str, optional): Pretrained tag of a built-in name. Defaults to
            None.

    Attributes:
        text (nn.Module): open_clip's ``TextTransformer``.
        embed_dims (int): Width of the text embedding (512 for MobileCLIP-B).
    """

    def __init__(self, pretrained: str, tag: Optional[str] = None) -> None:
        super().__init__(init_cfg=None)
        import open_clip
        if tag is not None and pretrained.startswith(('hf-hub:',
                                                      'local-dir:')):
            raise ValueError(f'tag={tag!r} applies to built-in model names; '
                             f'{pretrained!r} names its weights itself '
                             '(set tag=None).')
        model = open_clip.create_model(pretrained, pretrained=tag,
                                       require_pretrained=True)
        if not hasattr(model, 'text'):
            raise ValueError(
                f'{pretrained}: the open_clip model {type(model).__name__} '
                'has no separate text tower (`text`); use a "custom_text" '
                'model such as MobileCLIP-B.')
        self.text = model.text
        self.tokenizer = open_clip.get_tokenizer(pretrained)
        self.embed_dims = int(model.text.output_dim)
        self._is_init = True  # weights come from `pretrained`

    def forward(self, texts: List[str]) -> Tensor:
        """Embed texts.

        Args:
            texts (list[str]): ``B`` texts (cut at the context length).

        Returns:
            Tensor: ``[B, embed_dims]``, not normalised.
        """
        tokens = self.tokenizer(list(texts))  # [B, context_length]
        return self.text(tokens.to(self._device()))

    def _device(self) -> torch.device:
        return next(self.text.parameters()).device
