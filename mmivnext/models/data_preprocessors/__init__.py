"""Data preprocessors."""
