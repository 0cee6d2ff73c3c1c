"""A dataset of unlabeled (or labelled) videos listed in a text file."""
import logging
import os.path as osp
from typing import Callable, List, Optional, Union

from mmaction.datasets import BaseActionDataset
from mmengine.fileio import list_from_file
from mmengine.logging import print_log

from mmivnext.registry import DATASETS
from mmivnext.utils.random_state import seeded_rngs

#: What to do with a video the pipeline cannot read.
ON_CORRUPT_CHOICES = ('raise', 'skip')


class VideoReadError(RuntimeError):
    """A listed video could not be opened, sampled or decoded.

    Args:
        filename (str): Path of the video.
        reason (str): What failed, e.g. ``'DecordInit raised DECORDError: ...'``.
    """

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f'cannot read video {filename!r}: {reason}')

    def __reduce__(self):
        # Keep (filename, reason) when the error crosses a DataLoader worker.
        return type(self), (self.filename, self.reason)


@DATASETS.register_module()
class UnlabeledVideoDataset(BaseActionDataset):
    """Videos listed in a text file, for self-supervised pretraining.

    The list file has mmaction2's ``VideoDataset`` format: one video per line,
    a path relative to ``data_prefix['video']`` and an optional integer label,
    separated by whitespace. Blank lines are ignored; paths cannot contain
    whitespace. Lines without a label get ``label=-1`` (mmaction2's convention
    for unlabeled lists), so labelled lists (``train.txt`` of a probe) can be
    reused for pretraining as they are::

        some/path/000.mp4 1
        some/path/001.mp4

    Each sample is ``dict(filename=<prefix>/<path>, label=<int>)`` plus
    ``sample_idx``, ``modality='RGB'`` and ``start_index=0``, ready for
    mmaction2's video pipelines (``DecordInit``, ``UniformSample``...).

    **Unreadable videos.** An error raised by the pipeline before it has
    decoded the frames (``imgs`` is not yet in the results: opening, probing,
    sampling or decoding the file) is re-raised as :class:`VideoReadError`
    naming the file, with the original error as its cause. Errors raised by
    augmentations after decoding point to the pipeline, not to the file, and
    propagate unchanged. With ``on_corrupt='skip'``, a :class:`VideoReadError`
    is logged (file name, reason and the running count, at WARNING level
    through MMEngine's current logger) and another random index is loaded
    instead, up to ``max_refetch`` times in a row; :attr:`num_skipped` counts
    the skips. Each DataLoader worker process holds its own copy of the
    dataset, so the count is per process; the log lines are complete.

    **Seeds.** An index that carries a seed (a
    :class:`~mmivnext.utils.random_state.SampleIndex` from
    ``mmivnext.SeededSampler``) runs the pipeline, re-fetches included, with
    Python's, numpy's and torch's CPU generators seeded from it and restores
    them afterwards: the sample then depends on its seed only, which makes
    resumed runs exact whatever the DataLoader workers.

    Args:
        ann_file (str): Path of the list file.
        pipeline (list[dict | callable]): Transforms applied to each sample.
        data_prefix (dict): ``dict(video=<folder>)``, the folder the listed
            paths are relative to. Defaults to ``dict(video='')``.
        test_mode (bool): Build for validation or testing: the pipeline's
            errors are never skipped there. Defaults to False.
        on_corrupt (str): ``'raise'`` (default) raises
            :class:`VideoReadError`; ``'skip'`` logs it, counts it and loads
            another sample. ``'skip'`` is refused with ``test_mode=True``,
            where a replaced sample would bias the evaluation.
        check_files (bool): Check when the list is loaded that every listed
            file exists. Missing files raise a FileNotFoundError naming them
            under ``on_corrupt='raise'``, and are logged by name and dropped
            under ``'skip'`` (see :attr:`missing_files`). Defaults to False,
            since a stat per file is slow on large lists on network storage.
        max_refetch (int): Most consecutive samples skipped (or returned as
            None by the pipeline) before giving up with an error.
            Defaults to 10.
        indices (int | Sequence[int], optional): Keep only the first
            ``indices`` samples, or the samples at these indices.
            Defaults to None (all).
        lazy_init (bool): Load the list file on first use instead of at
            construction. Defaults to False.

    Attributes:
        num_skipped (int): Samples skipped by this process so far.
        missing_files (list[str]): Files dropped by ``check_files`` because
            they do not exist.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(video=''),
                 test_mode: bool = False,
                 on_corrupt: str = 'raise',
                 check_files: bool = False,
                 max_refetch: int = 10,
                 indices: Optional[Union[int, List[int]]] = None,
                 lazy_init: bool = False) -> None:
        if on_corrupt not in ON_CORRUPT_CHOICES:
            raise ValueError(f'on_corrupt must be one of {ON_CORRUPT_CHOICES},'
                             f' got {on_corrupt!r}')
        if on_corrupt == 'skip' and test_mode:
            raise ValueError(
                "on_corrupt='skip' replaces an unreadable video by another "
                'one, which would bias an evaluation; it is refused with '
                'test_mode=True. Fix or remove the video from the list.')
        if 'video' not in data_prefix:
            raise ValueError('data_prefix must be dict(video=<folder>), got '
                             f'{data_prefix!r}')
        self.on_corrupt = on_corrupt
        self.check_files = check_files
        self.num_skipped = 0
        self.missing_files: List[str] = []
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            start_index=0,  # frames of decoded videos count from 0
            modality='RGB',
            indices=indices,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    def load_data_list(self) -> List[dict]:
        """Parse the list file into ``[dict(filename, label), ...]``."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'list file {self.ann_file!r} does not exist')
        data_list = []
        for line_no, line in enumerate(list_from_file(self.ann_file), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) > 2:
                raise ValueError(
                    f'{self.ann_file}:{line_no}: expected "<path> [label]", '
                    f'got {len(fields)} fields in {line!r} (paths cannot '
                    'contain whitespace)')
            label = -1
            if len(fields) == 2:
                try:
                    label = int(fields[1])
                except ValueError:
                    raise ValueError(
                        f'{self.ann_file}:{line_no}: the label must be an '
                        f'integer, got {fields[1]!r} in {line!r}') from None
            filename = osp.join(self.data_prefix['video'], fields[0])
            data_list.append(dict(filename=filename, label=label))
        if not data_list:
            raise ValueError(f'list file {self.ann_file!r} lists no videos')
        if self.check_files:
            data_list = self._drop_missing(data_list)
        return data_list

    def _drop_missing(self, data_list: List[dict]) -> List[dict]:
        """Raise on, or log and drop, listed files that do not exist."""
        missing = [d['filename'] for d in data_list
                   if not osp.isfile(d['filename'])]
        if not missing:
            return data_list
        if self.on_corrupt == 'raise':
            shown = ', '.join(repr(m) for m in missing[:5])
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} videos listed in '
                f'{self.ann_file!r} do not exist: {shown}{more}')
        self.missing_files = missing
        print_log(
            f'Dropped {len(missing)} of {len(data_list)} videos listed in '
            f'{self.ann_file!r} that do not exist:\n  ' + '\n  '.join(missing),
            logger='current', level=logging.WARNING)
        missing = set(missing)
        return [d for d in data_list if d['filename'] not in missing]

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on sample ``idx``; read errors name the file."""
        results = self.get_data_info(idx)
        filename = results['filename']
        for transform in self.pipeline.transforms:
            decoded = 'imgs' in results
            try:
                results = transform(results)
            except Exception as err:
                if decoded:
                    if hasattr(err, 'add_note'):  # Python >= 3.11
                        err.add_note(f'while transforming {filename!r}')
                    raise
                raise VideoReadError(
                    filename, f'{type(transform).__name__} raised '
                    f'{type(err).__name__}: {err}') from err
            if results is None:
                return None
        return results

    def __getitem__(self, idx: int) -> dict:
        """Sample ``idx`` after the pipeline; see the class notes on skips
        and on seeds."""
        if not self._fully_initialized:
            self.full_init()
        with seeded_rngs(getattr(idx, 'seed', None)):
            return self._fetch(idx)

    def _fetch(self, idx: int) -> dict:
        for _ in range(self.max_refetch + 1):
            try:
                data = self.prepare_data(idx)
            except VideoReadError as err:
                if self.on_corrupt == 'raise':
                    raise
                self.num_skipped += 1
                print_log(
                    f'Skipped video {err.filename!r} (skip number '
                    f'{self.num_skipped} in this process): {err.reason}',
                    logger='current', level=logging.WARNING)
                idx = self._rand_another()
                continue
            if data is not None:
                return data
            if self.test_mode:
                raise RuntimeError(
                    f'the pipeline returned None for sample {idx} in test '
                    'mode')
            idx = self._rand_another()
        raise RuntimeError(
            f'no readable sample after {self.max_refetch + 1} attempts in a '
            f'row from {self.ann_file!r}; see the skipped videos logged '
            'above')
