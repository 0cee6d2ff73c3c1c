"""A frozen causal LLM (Qwen2-7B in the paper) loaded with transformers."""
from typing import List, Optional, Union

import torch
from torch import Tensor

from mmivnext.models.teachers import BaseFrozenTeacher
from mmivnext.models.utils.dtypes import parse_teacher_dtype
from .registry import MODELS


@MODELS.register_module()
class FrozenCausalLM(BaseFrozenTeacher):
    """``AutoModelForCausalLM`` and its tokenizer, frozen.

    Loaded with ``from_pretrained`` (a hub id such as ``'Qwen/Qwen2-7B'`` or
    a local folder) at construction and held outside the module tree
    (:class:`~mmivnext.models.teachers.BaseFrozenTeacher`): its parameters
    have ``requires_grad=False``, are in no optimizer and in no checkpoint
    (a 7B LLM is not copied into every connector checkpoint; it is loaded
    from ``pretrained`` each time the model is built), and it stays in eval
    mode. Gradients still flow through it to its input embeddings, which is
    how the connector learns.

    Args:
        pretrained (str): Hub id or folder of the LLM and its tokenizer.
        dtype (str | torch.dtype, optional): Dtype of the weights:
            ``'float32'`` (default), ``'bfloat16'`` or ``'float16'``.
        attn_implementation (str): transformers attention backend. Defaults
            to ``'sdpa'``.

    Attributes:
        model (PreTrainedModel): The causal LM.
        tokenizer (PreTrainedTokenizerBase): Its tokenizer.
        hidden_size (int): Width of its token embeddings.
    """

    def __init__(self,
                 pretrained: str,
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 attn_implementation: str = 'sdpa') -> None:
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer
        self.dtype = parse_teacher_dtype(dtype)
        model = AutoModelForCausalLM.from_pretrained(
            pretrained, dtype=self.dtype,
            attn_implementation=attn_implementation)
        self.hold('model', model)
        self.tokenizer = AutoTokenizer.from_pretrained(pretrained)
        if self.tokenizer.eos_token is None:
            raise ValueError(f'{pretrained}: the tokenizer has no eos token '
                             '(needed to end the responses).')
        self.pretrained = pretrained
        self.hidden_size = int(model.get_input_embeddings().embedding_dim)

    def tokenize(self, text: str) -> List[int]:
        """Token ids of ``text``, without special tokens added."""
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def embed(self, ids: Tensor) -> Tensor:
        """Token embeddings ``[..., hidden_size]`` of ids ``[...]``."""
        return self.model.get_input_embeddings()(ids)

    def forward(self, inputs_embeds: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits ``[B, L, vocab]`` (float32, or float64 for a float64
        model) of embedded sequences ``[B, L, hidden_size]`` with their
        ``[B, L]`` attention mask."""
        out = self.model(inputs_embeds=inputs_embeds.to(self.model.dtype),
                         attention_mask=attention_mask, use_cache=False)
        return out.logits.to(torch.promote_types(out.logits.dtype,
                                                 torch.float32))
