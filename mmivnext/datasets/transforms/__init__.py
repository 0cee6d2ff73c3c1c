"""Data transforms.

The pretraining pipelines use mmaction2's transforms (``DecordInit``,
``UniformSample``, ``DecordDecode``, ``MultiScaleCrop``, ``Resize``, ``Flip``,
``FormatShape``, ``PackActionInputs``), which resolve by plain name in mmivnext's
scope; transforms of mmivnext's own go here.
"""
