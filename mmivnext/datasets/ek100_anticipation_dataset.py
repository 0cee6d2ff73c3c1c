"""EPIC-KITCHENS-100 action anticipation: the annotation CSVs, the
(verb, noun) -> action map, and the dataset of context clips.

Annotation CSVs
---------------
``EPIC_100_train.csv`` / ``EPIC_100_validation.csv`` (GitHub
``epic-kitchens/epic-kitchens-100-annotations``), one action segment per row::

    narration_id,participant_id,video_id,narration_timestamp,start_timestamp,
    stop_timestamp,start_frame,stop_frame,narration,verb,verb_class,noun,
    noun_class,all_nouns,all_noun_classes
    P01_01_0,P01,P01_01,00:00:01.089,00:00:00.14,00:00:03.37,8,202,open door,
    open,3,door,3,['door'],[3]

Read here: ``narration_id``, ``participant_id``, ``video_id``,
``start_timestamp`` / ``stop_timestamp`` (``HH:MM:SS.fff``) and ``verb_class``
/ ``noun_class`` (EK100's 97 verbs and 300 nouns); other columns are allowed
and ignored. Times come from the timestamps, not from ``start_frame``: the
frame numbers count in each video's own frame rate, which the CSV does not
give (a few EK100 videos are not at 50 / 60 fps), while a timestamp maps to a
frame of any video once its frame rate is read from the file.

Action classes
--------------
EK100 scores actions as (verb, noun) pairs. The pairs seen in the training
CSV, sorted by ``(verb_class, noun_class)``, are numbered ``0 .. A-1``
(:func:`build_action_map`); the validation set uses the same map, and its
segments whose pair never occurs in training are dropped and counted (V-JEPA
2 does the same) or refused. The map is saved / loaded as a CSV in the layout
of the ``actions.csv`` of RULSTM / AVT (:func:`save_action_map`,
:func:`load_action_map`)::

    id,verb,noun,action
    0,0,1,take_pan

``tools/data/ek100_action_map.py`` writes it from the training CSV.

Video layout
------------
``data_prefix['video']`` / ``video_path_template`` formatted with the row's
``participant_id``, ``video_id`` and ``narration_id``; the default is EK100's
download layout ``<root>/<participant_id>/videos/<video_id>.MP4`` (e.g.
``P01/videos/P01_01.MP4``).
"""
import csv
import logging
import os.path as osp
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, \
    Union

from mmengine.logging import print_log

from mmivnext.registry import DATASETS
from .video_dataset import UnlabeledVideoDataset

#: Columns every annotation CSV must have.
REQUIRED_COLUMNS = ('narration_id', 'participant_id', 'video_id',
                    'start_timestamp', 'stop_timestamp', 'verb_class',
                    'noun_class')
#: Columns of an actions CSV (``action``, a name, is optional).
ACTION_MAP_COLUMNS = ('id', 'verb', 'noun')
#: What to do with a context that starts before the video.
BEFORE_VIDEO_START_CHOICES = ('clamp', 'drop')
#: What to do with a segment whose (verb, noun) pair is not in the map.
UNSEEN_ACTION_CHOICES = ('drop', 'raise')

_TIMESTAMP = re.compile(r'^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$')

ActionMap = Dict[Tuple[int, int], int]


def parse_timestamp(value: str) -> float:
    """``'HH:MM:SS.fff'`` -> seconds; ValueError if malformed."""
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f'expected HH:MM:SS[.fff], got {value!r}')
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def format_timestamp(seconds: float) -> str:
    """Seconds -> ``'HH:MM:SS.fff'`` (EK100's format, milliseconds)."""
    if seconds < 0:
        raise ValueError(f'timestamps are non-negative, got {seconds}')
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3600_000)
    minutes, millis = divmod(millis, 60_000)
    return f'{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}'


def _csv_rows(path: str, required: Sequence[str]):
    """Yield ``(line_number, row)`` of a CSV with a header, after checking
    that the header has the ``required`` columns."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'CSV file {path!r} does not exist')
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f'{path}: the header lacks the columns {missing}'
                             f' (has {reader.fieldnames})')
        for row in reader:
            yield reader.line_num, row


def _int_field(path: str, line: int, row: Mapping, column: str,
               minimum: int = 0) -> int:
    value = row[column]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise ValueError(f'{path}, line {line}, column {column!r}: expected '
                         f'an integer >= {minimum}, got {value!r}')
    return number


def read_ek100_csv(path: str) -> List[dict]:
    """Read an EK100 annotation CSV (module docstring).

    Returns:
        list[dict]: One dict per row: ``narration_id``, ``participant_id``,
        ``video_id`` (str), ``start_sec``, ``stop_sec`` (float), ``verb``,
        ``noun`` (int) and ``line`` (its line in the file).

    Raises:
        FileNotFoundError: No such file.
        ValueError: A missing column, a malformed value (naming the file,
            line and column), a segment that stops before it starts, a
            repeated ``narration_id`` or no rows.
    """
    rows, seen = [], {}
    for line, row in _csv_rows(path, REQUIRED_COLUMNS):
        for column in ('narration_id', 'participant_id', 'video_id'):
            if not (row[column] or '').strip():
                raise ValueError(f'{path}, line {line}, column {column!r}: '
                                 'empty')
        times = {}
        for column in ('start_timestamp', 'stop_timestamp'):
            try:
                times[column] = parse_timestamp(row[column] or '')
            except ValueError as err:
                raise ValueError(f'{path}, line {line}, column {column!r}: '
                                 f'{err}') from None
        if times['stop_timestamp'] < times['start_timestamp']:
            raise ValueError(
                f'{path}, line {line}, columns start_timestamp / '
                f'stop_timestamp: the segment stops ({row["stop_timestamp"]})'
                f' before it starts ({row["start_timestamp"]})')
        narration_id = row['narration_id'].strip()
        if narration_id in seen:
            raise ValueError(f'{path}, line {line}, column "narration_id": '
                             f'{narration_id!r} repeats line '
                             f'{seen[narration_id]}')
        seen[narration_id] = line
        rows.append(dict(
            narration_id=narration_id,
            participant_id=row['participant_id'].strip(),
            video_id=row['video_id'].strip(),
            start_sec=times['start_timestamp'],
            stop_sec=times['stop_timestamp'],
            verb=_int_field(path, line, row, 'verb_class'),
            noun=_int_field(path, line, row, 'noun_class'),
            line=line))
    if not rows:
        raise ValueError(f'{path} has no annotation rows')
    return rows


def build_action_map(train_csv: str) -> ActionMap:
    """Number the (verb, noun) pairs of a training CSV.

    Args:
        train_csv (str): An EK100 annotation CSV (``EPIC_100_train.csv``).

    Returns:
        dict: ``{(verb_class, noun_class): action_id}``, ids ``0 .. A-1`` in
        the order of the sorted pairs (so the same file always gives the same
        map).
    """
    pairs = sorted({(r['verb'], r['noun']) for r in read_ek100_csv(train_csv)})
    return {pair: i for i, pair in enumerate(pairs)}


def save_action_map(path: str,
                    action_map: Mapping[Tuple[int, int], int],
                    verb_names: Optional[Mapping[int, str]] = None,
                    noun_names: Optional[Mapping[int, str]] = None) -> None:
    """Write an action map as ``id,verb,noun,action`` rows, by id.

    ``action`` is ``<verb name>_<noun name>`` when the names are given (e.g.
    from ``EPIC_100_verb_classes.csv``'s ``key`` column), else
    ``<verb>_<noun>`` with the class ids.
    """
    _check_action_map(action_map, source='the map to save')
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(ACTION_MAP_COLUMNS + ('action', ))
        for (verb, noun), action in sorted(action_map.items(),
                                           key=lambda kv: kv[1]):
            verb_name = verb_names[verb] if verb_names else str(verb)
            noun_name = noun_names[noun] if noun_names else str(noun)
            writer.writerow([action, verb, noun, f'{verb_name}_{noun_name}'])


def load_action_map(path: str) -> ActionMap:
    """Read an actions CSV with columns ``id``, ``verb``, ``noun``.

    Raises:
        ValueError: A malformed value (naming the line and column), a pair or
            an id listed twice, or ids that are not ``0 .. A-1``.
    """
    action_map: ActionMap = {}
    ids: Dict[int, int] = {}
    for line, row in _csv_rows(path, ACTION_MAP_COLUMNS):
        action = _int_field(path, line, row, 'id')
        pair = (_int_field(path, line, row, 'verb'),
                _int_field(path, line, row, 'noun'))
        if pair in action_map:
            raise ValueError(f'{path}, line {line}, columns verb / noun: the '
                             f'pair {pair} is listed twice')
        if action in ids:
            raise ValueError(f'{path}, line {line}, column "id": {action} '
                             f'repeats line {ids[action]}')
        ids[action] = line
        action_map[pair] = action
    _check_action_map(action_map, source=path)
    return action_map


def _check_action_map(action_map: Mapping[Tuple[int, int], int],
                      source: str) -> None:
    if not action_map:
        raise ValueError(f'{source}: the action map is empty')
    if sorted(action_map.values()) != list(range(len(action_map))):
        raise ValueError(f'{source}: action ids must be 0 .. '
                         f'{len(action_map) - 1}, each once')


@DATASETS.register_module()
class EpicKitchensAnticipationDataset(UnlabeledVideoDataset):
    """EK100 action anticipation: a context clip before each action segment.

    See the module docstring for the CSV, the action map and the video layout.

    **Context clip.** For a segment starting at ``s`` seconds, the context
    ends at ``e = s - anticipation_time`` and has ``num_frames`` frames at
    ``fps``, at the times ``t_i = e - (num_frames - i) / fps``,
    ``i = 0 .. num_frames - 1``: the window ``[e - num_frames / fps, e)``,
    the last frame one frame period before ``e`` (as V-JEPA 2's
    ``arange(af - n, af, step)``). The defaults, 32 frames at 8 fps (4 s)
    ending 1 s before the action, are V-JEPA 2's EK100 protocol. The times
    are given to the pipeline as ``frame_times``;
    :class:`~mmivnext.datasets.transforms.SampleFramesByTime` turns them into
    frame indices of the video.

    **Contexts that start before the video** (``t_0 < 0``, actions in the
    first ``anticipation_time + num_frames / fps`` seconds):
    ``before_video_start='clamp'`` sets the negative times to 0, so the clip
    repeats the first frame (V-JEPA 2 does this); ``'drop'`` removes the
    segment. Either way the number of such segments is logged (WARNING, with
    their first narration ids) and kept in :attr:`num_before_video_start`.

    **Segments of unseen actions** (pair not in the map):
    ``unseen_actions='drop'`` removes them and logs the count
    (:attr:`num_unseen_actions`); ``'raise'`` refuses the file.

    Each sample is ``dict(filename, narration_id, participant_id, video_id,
    action_start_sec, action_stop_sec, frame_times, gt_verb, gt_noun,
    gt_action)`` plus ``sample_idx``, ``modality='RGB'``, ``start_index=0``.
    Reading errors of the pipeline name the file (:class:`UnlabeledVideoDataset`,
    also for ``on_corrupt`` and ``check_files``).

    Args:
        ann_file (str): The annotation CSV.
        pipeline (list[dict | callable]): Transforms, starting with
            ``mmaction.DecordInit`` and ``mmivnext.SampleFramesByTime``.
        data_prefix (dict): ``dict(video=<root>)``. Defaults to
            ``dict(video='')``.
        video_path_template (str): Video path under the root, formatted with
            ``participant_id``, ``video_id`` and ``narration_id``. Defaults to
            ``'{participant_id}/videos/{video_id}.MP4'``.
        action_map_file (str, optional): An actions CSV to read the map from.
        action_map_from (str, optional): The training CSV to build the map
            from (:func:`build_action_map`). Give exactly one of the two.
        num_frames (int): Frames of a context clip. Defaults to 32.
        fps (float): Frame rate of the context clip. Defaults to 8.0.
        anticipation_time (float): Seconds between the end of the context and
            the start of the action, ``>= 0``. Defaults to 1.0.
        before_video_start (str): ``'clamp'`` or ``'drop'`` (see above).
            Defaults to ``'clamp'``.
        unseen_actions (str): ``'drop'`` or ``'raise'`` (see above). Defaults
            to ``'drop'``.
        test_mode, on_corrupt, check_files, max_refetch, indices, lazy_init:
            As in :class:`UnlabeledVideoDataset`.

    Attributes:
        action_map (dict): ``{(verb, noun): action_id}``.
        num_before_video_start (int): Segments whose context starts before
            the video (clamped or dropped).
        num_unseen_actions (int): Segments dropped for an unseen action.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(video=''),
                 video_path_template: str =
                 '{participant_id}/videos/{video_id}.MP4',
                 action_map_file: Optional[str] = None,
                 action_map_from: Optional[str] = None,
                 num_frames: int = 32,
                 fps: float = 8.0,
                 anticipation_time: float = 1.0,
                 before_video_start: str = 'clamp',
                 unseen_actions: str = 'drop',
                 test_mode: bool = False,
                 on_corrupt: str = 'raise',
                 check_files: bool = False,
                 max_refetch: int = 10,
                 indices: Optional[Union[int, List[int]]] = None,
                 lazy_init: bool = False) -> None:
        if (action_map_file is None) == (action_map_from is None):
            raise ValueError(
                'Give exactly one of action_map_file (an actions CSV) and '
                'action_map_from (the training CSV to build the map from); '
                f'got action_map_file={action_map_file!r}, action_map_from='
                f'{action_map_from!r}.')
        if before_video_start not in BEFORE_VIDEO_START_CHOICES:
            raise ValueError(f'before_video_start must be one of '
                             f'{BEFORE_VIDEO_START_CHOICES}, got '
                             f'{before_video_start!r}')
        if unseen_actions not in UNSEEN_ACTION_CHOICES:
            raise ValueError(f'unseen_actions must be one of '
                             f'{UNSEEN_ACTION_CHOICES}, got '
                             f'{unseen_actions!r}')
        if num_frames < 1 or fps <= 0 or anticipation_time < 0:
            raise ValueError(
                f'Need num_frames >= 1, fps > 0 and anticipation_time >= 0, '
                f'got {num_frames}, {fps} and {anticipation_time}.')
        try:
            video_path_template.format(participant_id='P01', video_id='P01_01',
                                       narration_id='P01_01_0')
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f'video_path_template {video_path_template!r} can only use '
                '{participant_id}, {video_id} and {narration_id}: '
                f'{err!r}') from None
        self.video_path_template = video_path_template
        self.action_map_file = action_map_file
        self.action_map_from = action_map_from
        self.num_frames = num_frames
        self.fps = fps
        self.anticipation_time = anticipation_time
        self.before_video_start = before_video_start
        self.unseen_actions = unseen_actions
        self.action_map: ActionMap = {}
        self.num_before_video_start = 0
        self.num_unseen_actions = 0
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            on_corrupt=on_corrupt,
            check_files=check_files,
            max_refetch=max_refetch,
            indices=indices,
            lazy_init=lazy_init)

    def context_times(self, action_start_sec: float) -> List[float]:
        """The ``num_frames`` context times (seconds, unclamped) before an
        action starting at ``action_start_sec`` (class docstring)."""
        end = action_start_sec - self.anticipation_time
        return [end - (self.num_frames - i) / self.fps
                for i in range(self.num_frames)]

    def load_data_list(self) -> List[dict]:
        """Read the CSV and the action map into samples (class docstring)."""
        if self.action_map_file is not None:
            self.action_map = load_action_map(self.action_map_file)
            map_source = self.action_map_file
        else:
            self.action_map = build_action_map(self.action_map_from)
            map_source = f'the pairs of {self.action_map_from}'
        rows = read_ek100_csv(self.ann_file)
        unseen, early, data_list = [], [], []
        for row in rows:
            pair = (row['verb'], row['noun'])
            if pair not in self.action_map:
                if self.unseen_actions == 'raise':
                    raise ValueError(
                        f'{self.ann_file}, line {row["line"]}, columns '
                        f'verb_class / noun_class: the action {pair} is not '
                        f'in the action map ({map_source}); use '
                        "unseen_actions='drop' to leave such segments out")
                unseen.append(row['narration_id'])
                continue
            times = self.context_times(row['start_sec'])
            if times[0] < 0:
                early.append(row['narration_id'])
                if self.before_video_start == 'drop':
                    continue
                times = [max(t, 0.) for t in times]
            filename = osp.join(
                self.data_prefix['video'],
                self.video_path_template.format(
                    participant_id=row['participant_id'],
                    video_id=row['video_id'],
                    narration_id=row['narration_id']))
            data_list.append(dict(
                filename=filename,
                narration_id=row['narration_id'],
                participant_id=row['participant_id'],
                video_id=row['video_id'],
                action_start_sec=row['start_sec'],
                action_stop_sec=row['stop_sec'],
                frame_times=times,
                gt_verb=row['verb'],
                gt_noun=row['noun'],
                gt_action=self.action_map[pair]))
        self.num_unseen_actions = len(unseen)
        self.num_before_video_start = len(early)
        self._log_counts(len(rows), unseen, early, map_source)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no segment left after '
                             'dropping the ones logged above')
        if self.check_files:
            data_list = self._drop_missing(data_list)
        return data_list

    def _log_counts(self, total: int, unseen: List[str], early: List[str],
                    map_source: str) -> None:
        """Log what was dropped or clamped (WARNING) and a summary (INFO)."""

        def first(ids: List[str]) -> str:
            more = f' and {len(ids) - 5} more' if len(ids) > 5 else ''
            return ', '.join(ids[:5]) + more

        window = self.num_frames / self.fps
        if early:
            action = 'Clamped to 0 s (the first frame repeats)' \
                if self.before_video_start == 'clamp' else 'Dropped'
            print_log(
                f'{action}: {len(early)} of {total} segments of '
                f'{self.ann_file} whose {window:g}-s context (ending '
                f'{self.anticipation_time:g} s before the action) starts '
                f'before the video: {first(early)}', logger='current',
                level=logging.WARNING)
        if unseen:
            print_log(
                f'Dropped {len(unseen)} of {total} segments of '
                f'{self.ann_file} whose (verb, noun) pair is not in the '
                f'action map ({map_source}): {first(unseen)}',
                logger='current', level=logging.WARNING)
        print_log(
            f'{type(self).__name__}: {total} segments in {self.ann_file}, '
            f'{len(self.action_map)} actions ({map_source}), contexts of '
            f'{self.num_frames} frames at {self.fps:g} fps ending '
            f'{self.anticipation_time:g} s before each action.',
            logger='current')

    @property
    def num_actions(self) -> int:
        """Size of the action map (the action head's class count)."""
        return len(self.action_map)
