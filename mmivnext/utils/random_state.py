"""Random states: saved in checkpoints for exact resume, and per-sample seeds.

Two mechanisms make a resumed run draw the same random numbers as an
uninterrupted one:

* the main process's generators (Python's ``random``, ``numpy.random``, torch's
  CPU and CUDA generators: masks, diffusion noise, dropout) are captured on
  every rank when a checkpoint is saved (:func:`capture_random_state`) and
  restored when it is resumed (:func:`restore_random_state`);
* data augmentation draws from a seed carried by each sample index
  (:class:`SampleIndex`, made by ``mmivnext.SeededSampler`` from the sampler's
  seed, the epoch and the index) inside :func:`seeded_rngs`, so a sample is
  augmented the same way whatever the worker count, worker persistence or
  resume point.

Checkpoints stay loadable with ``torch.load(weights_only=True)``: the states
are stored as tensors, ints, floats and strings only.
"""
import contextlib
import random
from typing import Iterator, Optional

import numpy as np
import torch

#: Seeds are drawn below this bound (numpy's legacy seeding takes 32 bits).
SEED_BOUND = 2**32


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 32-bit seed of ``(seed, epoch, index)`` (numpy's
    ``SeedSequence``), the same on every machine and process."""
    entropy = [int(seed) % SEED_BOUND, int(epoch), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class SampleIndex(int):
    """A dataset index that carries the seed of its sample's augmentation.

    It is an ``int``, so every dataset accepts it; datasets that know it
    (``UnlabeledVideoDataset``) run their pipeline inside
    :func:`seeded_rngs` ``(index.seed)``.

    Args:
        index (int): The dataset index.
        seed (int): The sample's seed, in ``[0, 2**32)``.
    """

    def __new__(cls, index: int, seed: int) -> 'SampleIndex':
        obj = super().__new__(cls, index)
        obj.seed = int(seed)
        return obj

    def __reduce__(self):
        # Cross to DataLoader workers with the seed.
        return type(self), (int(self), self.seed)

    def __repr__(self) -> str:
        return f'SampleIndex({int(self)}, seed={self.seed})'


@contextlib.contextmanager
def seeded_rngs(seed: Optional[int]) -> Iterator[None]:
    """Run a block with Python's, numpy's and torch's CPU generators seeded
    from ``seed``, then put their previous states back, so that the block's
    draws depend on ``seed`` only and the caller's streams are untouched.
    ``seed=None`` does nothing. CUDA generators are left alone (data
    pipelines run on the CPU)."""
    if seed is None:
        yield
        return
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % SEED_BOUND)
    torch.random.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)


def capture_random_state() -> dict:
    """This process's Python, numpy, torch CPU and CUDA generator states,
    as weights-only-loadable data.

    Returns:
        dict: ``python`` (``version``, ``internal`` [625] int64 tensor,
        ``gauss``), ``numpy`` (``keys`` [624] int64 tensor, ``pos``,
        ``has_gauss``, ``cached_gaussian``), ``torch`` (uint8 tensor) and
        ``cuda`` (a list of uint8 tensors, one per visible device; empty
        without CUDA).
    """
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    if kind != 'MT19937':
        raise ValueError(f'unexpected numpy generator {kind!r}')
    cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()] \
        if torch.cuda.is_available() else []
    return dict(
        python=dict(version=int(version),
                    internal=torch.tensor(internal, dtype=torch.int64),
                    gauss=gauss),
        numpy=dict(keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   cached_gaussian=float(cached)),
        torch=torch.random.get_rng_state(),
        cuda=cuda)


def restore_random_state(state: dict) -> None:
    """Put back the generator states of :func:`capture_random_state`.

    Raises:
        ValueError: ``state`` lacks an entry or holds CUDA states for a
            different number of devices than are visible.
    """
    missing = {'python', 'numpy', 'torch', 'cuda'} - set(state)
    if missing:
        raise ValueError(f'the saved random state lacks {sorted(missing)}')
    py = state['python']
    random.setstate((py['version'], tuple(py['internal'].tolist()),
                     py['gauss']))
    np_state = state['numpy']
    np.random.set_state(('MT19937', np_state['keys'].numpy().astype(
        np.uint32), np_state['pos'], np_state['has_gauss'],
        np_state['cached_gaussian']))
    torch.random.set_rng_state(state['torch'].cpu())
    if state['cuda'] and torch.cuda.is_available():
        if len(state['cuda']) != torch.cuda.device_count():
            raise ValueError(
                f'the saved random state has {len(state["cuda"])} CUDA '
                f'generators, this process sees {torch.cuda.device_count()} '
                'devices')
        torch.cuda.set_rng_state_all(state['cuda'])
