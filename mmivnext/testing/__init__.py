"""Synthetic data and tiny models for the demo, the tests and the benchmarks.

Nothing here is needed to train or evaluate on real data; it stands in for
data and checkpoints that cannot be downloaded.

Synthetic data sets, written as real files in the layouts the datasets read
(each with a command line under ``tools/data/``):

* :mod:`.demo_videos`: labelled mp4 clips of moving shapes (the demo set);
* :mod:`.synthetic_depth`: RGB + depth sequences (``VideoDepthDataset``);
* :mod:`.synthetic_ek100`: an EPIC-KITCHENS-100 look-alike (videos and CSVs);
* :mod:`.synthetic_tracking`: moving shapes with per-frame boxes;
* :mod:`.video_text`: captions, retrieval lists and multiple-choice questions
  about the demo clips, with a tiny open_clip text model and a tiny Qwen2
  (the ``projects/`` tests).

Tiny models and checkpoints:

* :mod:`.demo_models`: random SigLIP teacher and ModernBERT predictor saved
  as transformers models;
* :mod:`.tiny_stage1`: a tiny Stage-1 model config, builder and clips;
* :mod:`.tiny_stage2`: a tiny Stage-2-like model and a fake Stage-1
  checkpoint;
* :mod:`.tiny_tracking`: a tracking set with windows, a tracking-probe config
  and data samples;
* :mod:`.zoo_layouts`: key layouts of the model zoo's released encoders, at
  any size;
* :mod:`.internvideo_reference`: fake InternVideo2 / InternVideo-Next
  checkpoints and a plain-torch forward of the authors' arithmetic.

The generators and model writers are imported here; the test parts are
imported from their modules.
"""
from .demo_models import (make_demo_models, save_tiny_modernbert,
                          save_tiny_siglip)
from .demo_videos import DEMO_CLASSES, make_demo_videos, render_demo_clip
from .synthetic_depth import make_synthetic_depth_sequences
from .synthetic_ek100 import make_synthetic_ek100
from .synthetic_tracking import make_synthetic_tracking

__all__ = ['DEMO_CLASSES', 'make_demo_videos', 'render_demo_clip',
           'make_synthetic_depth_sequences', 'make_synthetic_ek100',
           'make_synthetic_tracking', 'make_demo_models',
           'save_tiny_siglip', 'save_tiny_modernbert']
