"""Samplers whose indices carry each sample's augmentation seed."""
from typing import Iterator

from mmengine.dataset import DefaultSampler

from mmivnext.registry import DATA_SAMPLERS
from mmivnext.utils.random_state import SampleIndex, sample_seed


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """MMEngine's ``DefaultSampler`` whose indices carry a per-sample seed.

    Each index is a :class:`~mmivnext.utils.random_state.SampleIndex` with
    seed ``sample_seed(seed, epoch, index)``. ``UnlabeledVideoDataset`` runs
    its pipeline (frame sampling, crops) with the generators seeded from it,
    so a sample's augmentation depends on the seed, epoch and index only: not
    on the number of DataLoader workers, on ``persistent_workers`` or on where
    a run was resumed (a resumed run augments exactly as the uninterrupted
    one). Order, sharding and arguments are ``DefaultSampler``'s; the runner's
    ``DistSamplerSeedHook`` sets the epoch.
    """

    def __iter__(self) -> Iterator[SampleIndex]:
        for index in super().__iter__():
            yield SampleIndex(index, sample_seed(self.seed, self.epoch, index))
