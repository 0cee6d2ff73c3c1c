"""The weight dtypes of frozen pretrained models (teachers, per-frame image
encoders), given by name in configs."""
from typing import Union

import torch

#: The weight dtypes a teacher accepts by name.
TEACHER_DTYPES = {
    'float32': torch.float32,
    'float16': torch.float16,
    'bfloat16': torch.bfloat16,
}


def parse_teacher_dtype(dtype: Union[str, torch.dtype, None]) -> torch.dtype:
    """``dtype`` as a ``torch.dtype`` (None is float32), or a ValueError naming
    it. Frozen teachers run without grads, so their weights can live in
    bfloat16 on GPUs: half the memory and no per-call casts under autocast."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype not in TEACHER_DTYPES:
            raise ValueError(f'dtype must be one of {sorted(TEACHER_DTYPES)}, '
                             f'got {dtype!r}')
        return TEACHER_DTYPES[dtype]
    if dtype not in TEACHER_DTYPES.values():
        raise ValueError(f'dtype must be one of {sorted(TEACHER_DTYPES)}, '
                         f'got {dtype!r}')
    return dtype
