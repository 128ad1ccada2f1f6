"""Errors for data the user can fix (an unreadable file, an unknown format)."""


class DatasetError(ValueError):
    """A one-line, user-facing problem with a data file or a dataset."""
