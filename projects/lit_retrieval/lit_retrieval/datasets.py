"""Video-caption annotations (README, "Data formats")."""
import json
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mmaction.datasets import BaseActionDataset

from .registry import DATASETS


@DATASETS.register_module()
class VideoTextDataset(BaseActionDataset):
    """Videos with one or several captions, from a JSON list.

    The annotation file is a JSON list of objects with ``"video"`` (a path
    relative to ``data_prefix['video']``) and either ``"caption"`` (a string)
    or ``"captions"`` (a non-empty list of strings)::

        [{"video": "train/00001.mp4", "caption": "a man plays a guitar"},
         {"video": "val/00002.mp4", "captions": ["a dog runs", "a pet"]}]

    For training (``test_mode=False``) every (video, caption) pair is a
    sample with the key ``caption``; for testing every video is one sample
    with the key ``captions`` (a list, also for a single caption), the text
    side of retrieval. Samples also have ``filename``, ``modality`` and
    ``start_index`` for mmaction2's video pipelines, which pass the caption
    keys on with ``PackActionInputs(meta_keys=('caption', ))`` (or
    ``'captions'``).

    Args:
        ann_file (str): The JSON file.
        pipeline (list): The video pipeline.
        data_prefix (dict): ``dict(video=<folder of the videos>)``.
        test_mode (bool): One sample per video (see above). Defaults to
            False.

    Raises:
        ValueError: An entry lacks ``video`` or has no caption, or has a
            caption that is not a non-empty string; names the file and entry.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: Optional[dict] = None,
                 test_mode: bool = False) -> None:
        super().__init__(ann_file, pipeline=pipeline,
                         data_prefix=data_prefix or dict(video=''),
                         test_mode=test_mode)

    def _captions(self, index: int, entry: dict) -> List[str]:
        where = f'{self.ann_file}: entry {index}'
        if not isinstance(entry, dict) or 'video' not in entry:
            raise ValueError(f'{where} is not an object with a "video": '
                             f'{entry!r}')
        if ('caption' in entry) == ('captions' in entry):
            raise ValueError(f'{where} needs exactly one of "caption" / '
                             f'"captions", has keys {sorted(entry)}')
        captions = [entry['caption']] if 'caption' in entry \
            else entry['captions']
        if not isinstance(captions, Sequence) or isinstance(captions, str) \
                or not captions or not all(
                    isinstance(c, str) and c.strip() for c in captions):
            raise ValueError(f'{where}: captions must be non-empty strings, '
                             f'got {captions!r}')
        return list(captions)

    def load_data_list(self) -> List[dict]:
        """One sample per caption (training) or per video (testing)."""
        with open(self.ann_file) as f:
            entries = json.load(f)
        if not isinstance(entries, list) or not entries:
            raise ValueError(f'{self.ann_file} must hold a non-empty JSON '
                             f'list of videos')
        data_list = []
        for index, entry in enumerate(entries):
            captions = self._captions(index, entry)
            filename = osp.join(self.data_prefix['video'], entry['video'])
            if self.test_mode:
                data_list.append(dict(filename=filename, captions=captions))
            else:
                data_list += [dict(filename=filename, caption=caption)
                              for caption in captions]
        return data_list
