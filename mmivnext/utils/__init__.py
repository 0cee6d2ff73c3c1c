"""Utilities: upstream compatibility fixes (:mod:`.compat`)."""
