"""Frame sequences with aligned depth maps, cut into sliding windows, for the
video depth probe (paper section 4.2 and appendix A.3, Table 6).

On-disk layout
--------------
::

    <data_root>/
      train.txt                          # the list file: one sequence per line
      val.txt
      <sequence>/rgb/<frame>.png|.jpg    # RGB frames, 8 bit, 3 channels
      <sequence>/depth/<frame>.png       # depth maps, 16 bit, 1 channel
      ...

* The list file (``ann_file``, relative to ``data_root`` unless absolute)
  names one sequence folder per line, relative to ``data_root``; a name may
  contain ``/`` (``2011_09_26/2011_09_26_drive_0002_sync``) but no whitespace.
  Blank lines are ignored; a sequence listed twice is an error.
* A sequence's frames are the files of ``rgb/``, in the order of their names
  sorted as strings: name them with zero-padded numbers (``0000000005.png``).
  ``rgb/`` holds ``.png``, ``.jpg`` or ``.jpeg`` files only.
* Every RGB frame has a depth map ``depth/<frame>.png`` with the same stem,
  and every depth map an RGB frame: frames without ground truth are not part
  of this layout (link only the annotated frames when preparing a set).
* A depth map stores ``round(metres * depth_scale)`` as uint16; 0 means no
  measurement (invalid pixel). KITTI's annotated depth
  (``data_depth_annotated``, projected LiDAR) uses ``depth_scale=256``,
  ScanNet's depth frames ``depth_scale=1000`` (millimetres).
* A depth map has the size of its RGB frame, and all frames of a sequence
  have one size. ScanNet's colour frames (1296 x 968) are therefore resized to
  the depth size (640 x 480) when the set is prepared. The sizes are checked
  when a window is loaded (``LoadVideoDepthWindow``), not here, since reading
  every header of a large set at start-up is slow.

:func:`~mmivnext.testing.synthetic_depth.make_synthetic_depth_sequences`
writes a tiny set in this layout.

Windows
-------
A sequence of ``n`` frames gives the windows of ``clip_len`` consecutive frames
starting at ``0, stride, 2 * stride, ...`` while they fit (``start + clip_len
<= n``). If the last of them does not reach the last frame and ``cover_end``
is True, one more window ending at the last frame is added, so that every frame
is in at least one window. The paper uses 32 frames with stride 10 (KITTI) and
16 with stride 5 (ScanNet); frames are then in up to ``ceil(clip_len /
stride)`` windows, and the metric counts them once per window.
"""
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.fileio import list_from_file

from mmivnext.registry import DATASETS

#: Extensions accepted for RGB frames and for depth maps (lower case).
RGB_EXTENSIONS = ('.png', '.jpg', '.jpeg')
DEPTH_EXTENSION = '.png'
RGB_FOLDER = 'rgb'
DEPTH_FOLDER = 'depth'


def window_starts(num_frames: int, clip_len: int, stride: int,
                  cover_end: bool = True) -> List[int]:
    """First frames of the sliding windows over a sequence.

    Args:
        num_frames (int): Frames in the sequence, at least ``clip_len``.
        clip_len (int): Frames per window.
        stride (int): Frames between the starts of two windows.
        cover_end (bool): Add a last window ending at the last frame if the
            regular ones do not reach it. Defaults to True.

    Returns:
        list[int]: Increasing start indices, e.g. ``window_starts(12, 4, 5)
        == [0, 5, 8]`` (``[0, 5]`` without ``cover_end``).
    """
    if clip_len < 1 or stride < 1:
        raise ValueError(f'clip_len and stride must be >= 1, got {clip_len} '
                         f'and {stride}')
    if num_frames < clip_len:
        raise ValueError(f'{num_frames} frames do not fit a window of '
                         f'{clip_len}')
    starts = list(range(0, num_frames - clip_len + 1, stride))
    if cover_end and starts[-1] + clip_len < num_frames:
        starts.append(num_frames - clip_len)
    return starts


@DATASETS.register_module()
class VideoDepthDataset(BaseDataset):
    """Sliding windows over RGB sequences with aligned depth maps.

    See the module docstring for the on-disk layout and the windows. Each
    sample (before the pipeline) is one window::

        dict(sequence='train/seq_000',          # as in the list file
             frame_ids=['000004', ...],          # clip_len frame stems
             img_paths=['<root>/train/seq_000/rgb/000004.png', ...],
             depth_paths=['<root>/train/seq_000/depth/000004.png', ...],
             window_start=4,                     # index of the first frame
             depth_scale=1000.0,                 # stored value / depth_scale
             sample_idx=...)                     # = metres

    Missing folders or depth maps, RGB frames without a depth map (and the
    reverse), unexpected files, duplicate sequences and sequences shorter
    than ``clip_len`` raise an error naming the file or folder: nothing is
    skipped.

    Args:
        ann_file (str): The list file, relative to ``data_root`` unless
            absolute.
        clip_len (int): Frames per window (32 for KITTI, 16 for ScanNet).
        stride (int): Frames between window starts (10 for KITTI, 5 for
            ScanNet).
        depth_scale (float): Stored depth value per metre (256 for KITTI,
            1000 for ScanNet).
        pipeline (list[dict | callable]): Transforms of each window.
        data_root (str): Folder of the list file and the sequences.
        cover_end (bool): Add a last window ending at each sequence's last
            frame (module docstring). Defaults to True.
        test_mode (bool): Build for validation or testing. Defaults to False.
        indices (int | Sequence[int], optional): Keep only the first
            ``indices`` windows, or the windows at these indices. Defaults to
            None (all).
        lazy_init (bool): Read the list and the folders on first use.
            Defaults to False.
        max_refetch (int): MMEngine's retries of a training sample that the
            pipeline returns as None (none of the depth transforms does).
            Defaults to 10.
    """

    def __init__(self,
                 ann_file: str,
                 clip_len: int,
                 stride: int,
                 depth_scale: float,
                 pipeline: Sequence[Union[dict, Callable]],
                 data_root: str,
                 cover_end: bool = True,
                 test_mode: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 lazy_init: bool = False,
                 max_refetch: int = 10) -> None:
        if clip_len < 1 or stride < 1:
            raise ValueError(f'clip_len and stride must be >= 1, got '
                             f'clip_len={clip_len}, stride={stride}')
        if not depth_scale > 0:
            raise ValueError(f'depth_scale must be > 0, got {depth_scale}')
        self.clip_len = clip_len
        self.stride = stride
        self.depth_scale = float(depth_scale)
        self.cover_end = cover_end
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            indices=indices,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    def read_sequence_list(self) -> List[str]:
        """The sequence names of the list file, in its order."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'list file {self.ann_file!r} does not exist')
        sequences: Dict[str, int] = {}
        for line_no, line in enumerate(list_from_file(self.ann_file), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 1:
                raise ValueError(
                    f'{self.ann_file}:{line_no}: expected one sequence folder '
                    f'per line, got {line!r} (names cannot contain '
                    'whitespace)')
            name = fields[0].strip('/')
            if name in sequences:
                raise ValueError(
                    f'{self.ann_file}:{line_no}: sequence {name!r} is already '
                    f'listed on line {sequences[name]}')
            sequences[name] = line_no
        if not sequences:
            raise ValueError(f'list file {self.ann_file!r} lists no sequences')
        return list(sequences)

    def list_frames(self, sequence: str) -> List[tuple]:
        """The frames of a sequence, checked against the layout.

        Args:
            sequence (str): Folder relative to ``data_root``.

        Returns:
            list[tuple[str, str, str]]: ``(stem, rgb path, depth path)`` per
            frame, sorted by stem.
        """
        folder = osp.join(self.data_root, sequence)
        rgb_dir = osp.join(folder, RGB_FOLDER)
        depth_dir = osp.join(folder, DEPTH_FOLDER)
        for sub in (rgb_dir, depth_dir):
            if not osp.isdir(sub):
                raise FileNotFoundError(
                    f'sequence {sequence!r} (listed in {self.ann_file!r}) has '
                    f'no folder {sub!r}')
        rgb = self._stems(rgb_dir, RGB_EXTENSIONS)
        depth = self._stems(depth_dir, (DEPTH_EXTENSION, ))
        no_depth = sorted(set(rgb) - set(depth))
        if no_depth:
            raise FileNotFoundError(
                f'{len(no_depth)} frames of sequence {sequence!r} have no '
                f'depth map, e.g. {osp.join(rgb_dir, rgb[no_depth[0]])!r} '
                f'has no {osp.join(depth_dir, no_depth[0] + DEPTH_EXTENSION)!r}'
            )
        no_rgb = sorted(set(depth) - set(rgb))
        if no_rgb:
            raise FileNotFoundError(
                f'{len(no_rgb)} depth maps of sequence {sequence!r} have no '
                f'RGB frame, e.g. {osp.join(depth_dir, depth[no_rgb[0]])!r} '
                f'has none in {rgb_dir!r}')
        return [(stem, osp.join(rgb_dir, rgb[stem]),
                 osp.join(depth_dir, depth[stem])) for stem in sorted(rgb)]

    @staticmethod
    def _stems(folder: str, extensions: Sequence[str]) -> Dict[str, str]:
        """``{stem: file name}`` of a frame folder; other files raise."""
        stems: Dict[str, str] = {}
        for name in os.listdir(folder):
            stem, ext = osp.splitext(name)
            if ext.lower() not in extensions or not stem:
                raise ValueError(
                    f'unexpected file {osp.join(folder, name)!r}: '
                    f'{osp.basename(folder)}/ may only hold '
                    f'{"/".join(extensions)} frames')
            if stem in stems:
                raise ValueError(
                    f'frame {stem!r} appears twice in {folder!r}: '
                    f'{stems[stem]!r} and {name!r}')
            stems[stem] = name
        return stems

    def load_data_list(self) -> List[dict]:
        """One entry per window of every listed sequence."""
        data_list = []
        for sequence in self.read_sequence_list():
            frames = self.list_frames(sequence)
            if len(frames) < self.clip_len:
                raise ValueError(
                    f'sequence {osp.join(self.data_root, sequence)!r} has '
                    f'{len(frames)} frames, fewer than clip_len='
                    f'{self.clip_len}; remove it from {self.ann_file!r} or '
                    'use shorter windows')
            for start in window_starts(len(frames), self.clip_len,
                                       self.stride, self.cover_end):
                window = frames[start:start + self.clip_len]
                data_list.append(dict(
                    sequence=sequence,
                    frame_ids=[f[0] for f in window],
                    img_paths=[f[1] for f in window],
                    depth_paths=[f[2] for f in window],
                    window_start=start,
                    depth_scale=self.depth_scale))
        return data_list
