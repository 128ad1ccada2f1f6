"""Errors the models package raises for problems the user can fix (bad files, missing models)."""


class ModelError(Exception):
    """A one-line, user-facing problem with a model file or folder."""
