"""The one error the document reader raises."""


class DocumentError(Exception):
    """A file whose text cannot be read, with a one-line message saying why."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")
