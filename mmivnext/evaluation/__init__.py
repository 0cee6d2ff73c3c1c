"""Evaluation metrics (the depth, tracking and anticipation metrics come with the probe issues)."""
