"""Utilities: upstream compatibility fixes (:mod:`.compat`), analytic FLOP
counts (:mod:`.flops`) and the train-step profiler (:mod:`.step_profiler`)."""
