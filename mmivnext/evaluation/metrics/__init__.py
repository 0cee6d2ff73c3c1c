"""Metrics of the dense and temporal probes."""

__all__ = []
