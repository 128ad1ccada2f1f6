"""Training data without Qt or SQL: reading files in the common formats, cleaning, splitting,
statistics and frozen snapshots. Rows are plain dicts (see models.datasets.rows)."""
from models.datasets.errors import DatasetError
from models.datasets.formats import JSON_FORMATS, BadLine, ParseResult, parse_file
from models.datasets.rows import KINDS, RowError, check_row, row_label, row_text

__all__ = [
    "DatasetError", "JSON_FORMATS", "BadLine", "ParseResult", "parse_file", "KINDS", "RowError", "check_row",
    "row_label", "row_text",
]
