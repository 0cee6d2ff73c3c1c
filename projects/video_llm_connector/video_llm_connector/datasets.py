"""Instruction (caption / QA) and multiple-choice annotations (README,
"Data formats")."""
import json
import os.path as osp
from typing import Callable, List, Optional, Union

from mmaction.datasets import BaseActionDataset

from .registry import DATASETS


class _VideoJSONDataset(BaseActionDataset):
    """A JSON list of objects with a ``"video"`` path (relative to
    ``data_prefix['video']``) and the keys :meth:`parse_entry` checks."""

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: Optional[dict] = None,
                 test_mode: bool = False) -> None:
        super().__init__(ann_file, pipeline=pipeline,
                         data_prefix=data_prefix or dict(video=''),
                         test_mode=test_mode)

    def parse_entry(self, entry: dict, where: str) -> dict:
        """The sample's keys besides ``filename``; raise ValueError
        naming ``where`` if the entry is malformed."""
        raise NotImplementedError

    def _strings(self, entry: dict, keys, where: str) -> None:
        for key in keys:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ValueError(f'{where}: "{key}" must be a non-empty '
                                 f'string, got {entry.get(key)!r}')

    def load_data_list(self) -> List[dict]:
        with open(self.ann_file) as f:
            entries = json.load(f)
        if not isinstance(entries, list) or not entries:
            raise ValueError(f'{self.ann_file} must hold a non-empty JSON '
                             f'list')
        data_list = []
        for index, entry in enumerate(entries):
            where = f'{self.ann_file}: entry {index}'
            if not isinstance(entry, dict):
                raise ValueError(f'{where} is not an object: {entry!r}')
            self._strings(entry, ('video', ), where)
            data_list.append(dict(
                filename=osp.join(self.data_prefix['video'], entry['video']),
                **self.parse_entry(entry, where)))
        return data_list


@DATASETS.register_module()
class VideoInstructionDataset(_VideoJSONDataset):
    """Training pairs: a video, a ``"prompt"`` (the question or the
    captioning instruction) and the ``"response"`` the LLM should give::

        [{"video": "a.mp4", "prompt": "Describe the video.",
          "response": "a man plays a guitar"}]

    Samples have ``prompt`` and ``response``; pass them on with
    ``PackActionInputs(meta_keys=('prompt', 'response'))``.
    """

    def parse_entry(self, entry: dict, where: str) -> dict:
        self._strings(entry, ('prompt', 'response'), where)
        return dict(prompt=entry['prompt'], response=entry['response'])


@DATASETS.register_module()
class VideoMCQDataset(_VideoJSONDataset):
    """Multiple-choice questions about videos::

        [{"video": "a.mp4", "question": "What does the man hold?",
          "candidates": ["a guitar", "a cup", "a phone"], "answer": 0,
          "task": "object"}]

    ``answer`` is the index of the right candidate or its text; ``task``
    (optional) groups questions for per-task accuracy. Samples have
    ``question``, ``candidates``, ``answer`` (an index) and ``task`` (or
    None); pass them on with ``PackActionInputs(meta_keys=('question',
    'candidates', 'answer', 'task'))``.
    """

    def parse_entry(self, entry: dict, where: str) -> dict:
        self._strings(entry, ('question', ), where)
        candidates = entry.get('candidates')
        if not isinstance(candidates, list) or len(candidates) < 2 or not \
                all(isinstance(c, str) and c.strip() for c in candidates):
            raise ValueError(f'{where}: "candidates" must be a list of at '
                             f'least 2 non-empty strings, got {candidates!r}')
        answer = entry.get('answer')
        if isinstance(answer, str):
            if candidates.count(answer) != 1:
                raise ValueError(f'{where}: answer {answer!r} must be '
                                 f'exactly one of the candidates '
                                 f'{candidates}')
            answer = candidates.index(answer)
        if isinstance(answer, bool) or not isinstance(answer, int) or \
                not 0 <= answer < len(candidates):
            raise ValueError(f'{where}: "answer" must be a candidate or its '
                             f'index in [0, {len(candidates)}), got '
                             f'{entry.get("answer")!r}')
        task = entry.get('task')
        if task is not None and not isinstance(task, str):
            raise ValueError(f'{where}: "task" must be a string, got '
                             f'{task!r}')
        return dict(question=entry['question'], candidates=candidates,
                    answer=answer, task=task)
