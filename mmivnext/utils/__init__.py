"""Utilities: upstream compatibility fixes (:mod:`.compat`), analytic FLOP
counts (:mod:`.flops`), the train-step profiler (:mod:`.step_profiler`), the
exported-encoder format (:mod:`.encoder_export`) and its architecture check
and strict loading (:mod:`.encoder_loading`), and the checkpoint reader
(:mod:`.checkpoint_io`)."""
