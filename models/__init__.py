"""Fireside's machine learning: generation, classification, fine-tuning, model registry.

Nothing here imports Qt or the SQLite store; functions take and return plain Python values.
"""
