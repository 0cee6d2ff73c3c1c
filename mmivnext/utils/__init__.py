"""Utilities: upstream compatibility fixes (:mod:`.compat`), analytic FLOP
counts (:mod:`.flops`), the train-step profiler (:mod:`.step_profiler`), the
exported-encoder format (:mod:`.encoder_export`) and the demo's tiny models
(:mod:`.demo_models`)."""
