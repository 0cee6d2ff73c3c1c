"""A tiny synthetic EPIC-KITCHENS-100 look-alike for the anticipation probe.

Real mp4 videos and EK100-format annotation CSVs, written in a second, so that
the whole anticipation pipeline (CSV, action map, context sampling, decoding,
probe, class-mean recall) runs in tests and demos without EK100.

What the videos show
--------------------
Each video is a sequence of *events* over a textured, jittering background
(as the demo videos of :mod:`mmivnext.testing.demo_videos`). In an event a
shape (the **noun**: circle, square or triangle) appears half-way between
the centre and one edge and glides for ``travel_sec`` seconds across the
centre to the opposite edge (the **verb**: reach-left, -right, -top or
-bottom). When it touches the edge the annotated action
segment starts: for ``action_sec`` seconds the shape stays at the edge and
blinks (its colour alternates every frame); then the frame is empty for
``pause_sec`` seconds before the next event. The video starts with
``lead_in_sec`` seconds of background.

So the future action is predictable from the context: a context ending
``anticipation_time < travel_sec`` seconds before the action shows the shape
(noun) and its direction of motion (verb). Events cycle through the 12
(verb, noun) pairs (event ``j`` of video ``v`` has action
``(v * events_per_video + j) % 12``; ``verb = action % 4``,
``noun = action // 4``), so each split holds every pair once it has 12
events. With the defaults the first event's action starts at 3 s: a context
longer than 2 s ending 1 s before it starts before the video (exercising
``before_video_start``).

Everything random (colours, sizes, paths, noise) comes from
``numpy.random.default_rng([seed, split, video])``: the same arguments write
the same files.

Layout written by :func:`make_synthetic_ek100` (EK100's, see
:mod:`mmivnext.datasets.ek100_anticipation_dataset`)::

    <out_dir>/
      EPIC_100_train.csv           # training videos P01_01, P01_02, ...
      EPIC_100_validation.csv      # validation videos P02_01, ...
      EPIC_100_verb_classes.csv    # id,key
      EPIC_100_noun_classes.csv    # id,key
      actions.csv                  # action map of the training CSV
      videos/P01/videos/P01_01.MP4 ...

``tools/data/make_synthetic_ek100.py`` is its command line.
"""
import csv
import math
import os
import os.path as osp
from typing import Dict, List

import numpy as np

from ..datasets.ek100_anticipation_dataset import (build_action_map,
                                                   format_timestamp,
                                                   save_action_map)
from .demo_videos import (DEMO_DIRECTIONS, DEMO_SHAPES, DIRECTION_VECTORS,
                          _draw_shape, check_decodes, write_mp4)

#: Verb ``i`` moves the shape towards the edge of ``DEMO_DIRECTIONS[i]``.
SYNTHETIC_VERBS = ('reach-left', 'reach-right', 'reach-top', 'reach-bottom')
#: Noun ``i`` is the shape ``DEMO_SHAPES[i]``.
SYNTHETIC_NOUNS = DEMO_SHAPES
NUM_SYNTHETIC_ACTIONS = len(SYNTHETIC_VERBS) * len(SYNTHETIC_NOUNS)

CSV_COLUMNS = ('narration_id', 'participant_id', 'video_id',
               'narration_timestamp', 'start_timestamp', 'stop_timestamp',
               'start_frame', 'stop_frame', 'narration', 'verb', 'verb_class',
               'noun', 'noun_class', 'all_nouns', 'all_noun_classes')
SPLITS = (('train', 'EPIC_100_train.csv', 'P01'),
          ('validation', 'EPIC_100_validation.csv', 'P02'))
MIN_SIZE = 32
RADIUS_FRACTION = (0.10, 0.14)


def _events(video_index: int, events_per_video: int, lead_in_sec: float,
            travel_sec: float, action_sec: float,
            pause_sec: float) -> List[dict]:
    """Timing and labels of a video's events."""
    events, t0 = [], lead_in_sec
    for j in range(events_per_video):
        action = (video_index * events_per_video + j) % NUM_SYNTHETIC_ACTIONS
        start = t0 + travel_sec
        events.append(dict(index=j, verb=action % len(SYNTHETIC_VERBS),
                           noun=action // len(SYNTHETIC_VERBS), appear=t0,
                           start=start, stop=start + action_sec))
        t0 = start + action_sec + pause_sec
    return events


def render_synthetic_video(events: List[dict], num_frames: int, size: int,
                           fps: float, rng: np.random.Generator) -> np.ndarray:
    """Render the frames of one video (module docstring).

    Args:
        events (list[dict]): ``appear``, ``start``, ``stop`` (seconds),
            ``verb`` and ``noun`` (class ids) of each event.
        num_frames (int): Frames to render.
        size (int): Height and width in pixels, at least ``MIN_SIZE``.
        fps (float): Frame rate: frame ``f`` shows time ``f / fps``.
        rng (np.random.Generator): Source of every random choice.

    Returns:
        np.ndarray: ``[num_frames, size, size, 3]`` uint8 RGB frames.
    """
    if size < MIN_SIZE:
        raise ValueError(f'size must be >= {MIN_SIZE}, got {size}')
    dark = rng.random() < 0.5
    bg_colour = rng.integers(20, 90, 3) if dark else rng.integers(165, 235, 3)
    texture = bg_colour + rng.normal(0, 10, (size, size, 3))  # [H, W, 3]
    shapes = []
    for event in events:
        colour = rng.integers(170, 256, 3) if dark else rng.integers(0, 86, 3)
        radius = rng.uniform(*RADIUS_FRACTION) * size
        dx, dy = DIRECTION_VECTORS[DEMO_DIRECTIONS[event['verb']]]
        centre = size / 2
        across = centre + rng.uniform(-0.15, 0.15) * size
        edge = centre - radius - 1  # distance from the centre to the edge
        shapes.append(dict(event, colour=tuple(int(c) for c in colour),
                           blink=tuple(int(255 - c) for c in colour),
                           radius=radius, dx=dx, dy=dy, across=across,
                           edge=edge))

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for f in range(num_frames):
        t = f / fps
        noise = rng.normal(0, 3, (size, size, 3))
        frame = np.clip(texture + rng.uniform(-6, 6) + noise, 0,
                        255).astype(np.uint8)
        for s in shapes:
            if not s['appear'] <= t < s['stop']:
                continue
            progress = min((t - s['appear']) / (s['start'] - s['appear']), 1.)
            # From half-way to the opposite edge to the target edge.
            along = s['edge'] * (1.5 * progress - 0.5)
            if s['dx']:
                cx, cy = size / 2 + s['dx'] * along, s['across']
            else:
                cx, cy = s['across'], size / 2 + s['dy'] * along
            acting = t >= s['start'] and f % 2 == 1
            _draw_shape(frame, DEMO_SHAPES[s['noun']], cx, cy, s['radius'],
                        s['blink'] if acting else s['colour'])
        frames[f] = frame
    return frames


def _write_csv(path: str, columns, rows) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


def make_synthetic_ek100(out_dir: str = 'data/synthetic_ek100',
                         num_train_videos: int = 4,
                         num_val_videos: int = 2,
                         events_per_video: int = 4,
                         size: int = 56,
                         fps: float = 8.0,
                         lead_in_sec: float = 0.5,
                         travel_sec: float = 2.5,
                         action_sec: float = 1.0,
                         pause_sec: float = 0.5,
                         seed: int = 0) -> Dict[str, str]:
    """Write the synthetic set (see the module docstring for the layout).

    The first video is decoded with decord and compared with what was written
    (:func:`~mmivnext.testing.demo_videos.check_decodes`; decord mis-decodes
    some small widths, e.g. 48 px).

    Args:
        out_dir (str): Folder to write into; created if needed. Files of the
            same names are overwritten.
        num_train_videos (int): Training videos. Defaults to 4.
        num_val_videos (int): Validation videos. Defaults to 2.
        events_per_video (int): Events (annotated actions) per video.
            Defaults to 4.
        size (int): Height and width in pixels. Defaults to 56.
        fps (float): Frame rate of the videos. Defaults to 8.
        lead_in_sec (float): Background before the first event. Defaults to
            0.5.
        travel_sec (float): Glide of a shape before its action. Defaults to
            2.5.
        action_sec (float): Length of an action segment. Defaults to 1.0.
        pause_sec (float): Empty time after an action. Defaults to 0.5.
        seed (int): Seed of every random choice. Defaults to 0.

    Returns:
        dict: Paths: ``root``, ``video_root`` (the dataset's
        ``data_prefix['video']``), ``train_csv``, ``val_csv``,
        ``actions_csv``, ``verb_classes_csv``, ``noun_classes_csv``.
    """
    if min(num_train_videos, num_val_videos, events_per_video) < 1:
        raise ValueError('Need at least one video per split and one event '
                         'per video.')
    if min(travel_sec, action_sec) <= 0 or min(lead_in_sec, pause_sec) < 0:
        raise ValueError('travel_sec and action_sec must be > 0, lead_in_sec '
                         'and pause_sec >= 0.')
    paths = dict(root=out_dir, video_root=osp.join(out_dir, 'videos'),
                 verb_classes_csv=osp.join(out_dir,
                                           'EPIC_100_verb_classes.csv'),
                 noun_classes_csv=osp.join(out_dir,
                                           'EPIC_100_noun_classes.csv'),
                 actions_csv=osp.join(out_dir, 'actions.csv'))
    os.makedirs(out_dir, exist_ok=True)
    _write_csv(paths['verb_classes_csv'], ('id', 'key'),
               enumerate(SYNTHETIC_VERBS))
    _write_csv(paths['noun_classes_csv'], ('id', 'key'),
               enumerate(SYNTHETIC_NOUNS))
    counts = (num_train_videos, num_val_videos)
    for split_index, ((split, csv_name, participant), count) in enumerate(
            zip(SPLITS, counts)):
        video_dir = osp.join(paths['video_root'], participant, 'videos')
        os.makedirs(video_dir, exist_ok=True)
        rows = []
        for v in range(count):
            video_id = f'{participant}_{v + 1:02d}'
            events = _events(v, events_per_video, lead_in_sec, travel_sec,
                             action_sec, pause_sec)
            duration = events[-1]['stop'] + pause_sec
            num_frames = int(math.ceil(duration * fps))
            rng = np.random.default_rng([seed, split_index, v])
            frames = render_synthetic_video(events, num_frames, size, fps,
                                            rng)
            video_path = osp.join(video_dir, f'{video_id}.MP4')
            write_mp4(video_path, frames, fps)
            if split_index == 0 and v == 0:
                check_decodes(video_path, frames)
            for e in events:
                verb, noun = SYNTHETIC_VERBS[e['verb']], \
                    SYNTHETIC_NOUNS[e['noun']]
                rows.append([
                    f'{video_id}_{e["index"]}', participant, video_id,
                    format_timestamp(e['start']),
                    format_timestamp(e['start']), format_timestamp(e['stop']),
                    int(round(e['start'] * fps)), int(round(e['stop'] * fps)),
                    f'{verb} {noun}', verb, e['verb'], noun, e['noun'],
                    f"['{noun}']", f'[{e["noun"]}]'])
        key = 'train_csv' if split == 'train' else 'val_csv'
        paths[key] = osp.join(out_dir, csv_name)
        _write_csv(paths[key], CSV_COLUMNS, rows)
    save_action_map(paths['actions_csv'], build_action_map(paths['train_csv']),
                    dict(enumerate(SYNTHETIC_VERBS)),
                    dict(enumerate(SYNTHETIC_NOUNS)))
    return paths
