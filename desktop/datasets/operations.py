"""What the Datasets page and `fireside dataset` both do, so they behave the same. No Qt here.

Long operations take `progress(fraction, text)` and `cancelled()` callables; the page passes a
BackgroundOp's, the CLI prints progress on stderr.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TextIO

from desktop.store import Database
from desktop.store import datasets as store
from models.datasets.cleaning import CleaningPlan, plan_duplicates, plan_empty, plan_pii, plan_token_length
from models.datasets.errors import DatasetError
from models.datasets.folder import parse_folder
from models.datasets.formats import ParseResult, export_jsonl_lines, parse_file
from models.datasets.stats import DatasetStats, add_token_lengths, compute_stats
from models.datasets.tables import write_table
from models.datasets.tokens import model_context_length, token_lengths

Progress = Callable[[float, str], None] | None
Cancelled = Callable[[], bool] | None

CLEANING_ACTIONS = {
    "empty": "Remove empty rows",
    "duplicates": "Remove exact duplicates",
    "near-duplicates": "Remove near-duplicates (same text after normalising case, spacing and punctuation)",
    "pii": "Replace personal data (e-mail, phone, card numbers, IBANs) with placeholders",
    "token-length": "Remove rows outside a token-length range (with a model's tokenizer)",
}
EXPORT_FORMATS = ("jsonl", "csv", "tsv")


def rows_text(count: int, noun: str = "row") -> str:
    """"1 row", "2,345 rows"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


# -- import --------------------------------------------------------------------------------------
def read_source(path: Path, fmt: str = "auto", mapping: dict | None = None) -> ParseResult:
    """Parse a data file, or a folder whose sub-folders are labels. Nothing is written."""
    path = Path(path).expanduser()
    if path.is_dir():
        return parse_folder(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    return parse_file(path, fmt, mapping)


def default_name(path: Path) -> str:
    path = Path(path)
    return path.name if path.is_dir() else path.stem


def import_parsed(db: Database, parsed: ParseResult, name: str, skip_bad_lines: bool = False,
                  source: str | None = None) -> dict:
    """Write parsed rows as one transaction. Malformed lines stop the import unless skipped."""
    if parsed.bad_lines and not skip_bad_lines:
        raise DatasetError(f"{parsed.bad_lines_summary()}. Nothing was written")
    if not parsed.rows:
        raise DatasetError("no rows to import")
    return store.import_rows(db, name, parsed.kind, parsed.rows, source=source)


# -- models and tokens ---------------------------------------------------------------------------
def default_tokenizer_model(kind: str) -> str:
    from models.bundled import CHAT_NAME, ENCODER_NAME

    return CHAT_NAME if kind == "chat" else ENCODER_NAME


def load_tokenizer(registry, model_name: str, progress: Progress = None):
    """(tokenizer, context length or None) of a registered model."""
    from models.loading import load_tokenizer as load

    entry = registry.get(model_name)
    folder = registry.local_path(entry, progress)
    return load(folder), model_context_length(folder)


def records_with_lengths(db: Database, dataset_id: int, tokenizer, progress: Progress = None,
                         cancelled: Cancelled = None, records: list | None = None) -> list[tuple[int, dict, int]]:
    records = records if records is not None else list(store.iter_records(db, dataset_id))
    lengths = token_lengths([row for _, row in records], tokenizer, progress, cancelled)
    return [(row_id, row, length) for (row_id, row), length in zip(records, lengths)]


# -- cleaning ------------------------------------------------------------------------------------
def plan_cleaning(db: Database, dataset_id: int, action: str, *, tokenizer=None, min_tokens: int = 0,
                  max_tokens: int | None = None, records: list | None = None, progress: Progress = None,
                  cancelled: Cancelled = None) -> CleaningPlan:
    """What a cleaning would change; nothing is written (apply it with store.apply_plan)."""
    if action not in CLEANING_ACTIONS:
        raise DatasetError(f"unknown cleaning {action!r}; expected one of {', '.join(CLEANING_ACTIONS)}")
    if records is None:
        records = list(store.iter_records(db, dataset_id))
    if action == "empty":
        return plan_empty(records)
    if action == "duplicates":
        return plan_duplicates(records)
    if action == "near-duplicates":
        return plan_duplicates(records, near=True)
    if action == "pii":
        return plan_pii(records)
    if tokenizer is None:
        raise DatasetError("filtering by token length needs a model's tokenizer (choose a model)")
    if max_tokens is None and not min_tokens:
        raise DatasetError("give a maximum or a minimum number of tokens")
    measured = records_with_lengths(db, dataset_id, tokenizer, progress, cancelled, records)
    return plan_token_length(measured, min_tokens=min_tokens, max_tokens=max_tokens)


def apply_in_memory(records: list[tuple[int, dict]], plan: CleaningPlan) -> list[tuple[int, dict]]:
    """The records as they will be once the plan is applied (to preview cleanings one after another)."""
    removed = set(plan.remove)
    return [(i, plan.replace.get(i, row)) for i, row in records if i not in removed]


# -- statistics ----------------------------------------------------------------------------------
def dataset_statistics(db: Database, dataset_id: int, tokenizer=None, context_length: int | None = None,
                       progress: Progress = None, cancelled: Cancelled = None) -> tuple[DatasetStats, list[int]]:
    """(statistics, token lengths); lengths are empty without a tokenizer."""
    dataset = store.get_dataset_by_id(db, dataset_id)
    if dataset is None:
        raise DatasetError(f"dataset {dataset_id} no longer exists")
    rows = list(store.iter_rows(db, dataset_id))
    stats = compute_stats(dataset["kind"], rows)
    lengths: list[int] = []
    if tokenizer is not None:
        lengths = token_lengths(rows, tokenizer, progress, cancelled)
        add_token_lengths(stats, lengths, context_length)
    return stats, lengths


# -- export --------------------------------------------------------------------------------------
def export_dataset(db: Database, dataset_id: int, fmt: str, handle: TextIO, split: str | None = None) -> int:
    """Write the dataset to an open text handle; returns the number of rows written.

    jsonl: chat rows in the OpenAI chat format, classification rows as {"text", "label"}.
    csv/tsv: see models.datasets.tables.write_table.
    """
    dataset = store.get_dataset_by_id(db, dataset_id)
    if dataset is None:
        raise DatasetError(f"dataset {dataset_id} no longer exists")
    rows = store.iter_rows(db, dataset_id, split)
    if fmt == "jsonl":
        count = 0
        for line in export_jsonl_lines(rows):
            handle.write(line)
            count += 1
        return count
    if fmt in ("csv", "tsv"):
        return write_table(rows, dataset["kind"], handle, delimiter="\t" if fmt == "tsv" else ",")
    raise DatasetError(f"unknown export format {fmt!r}; expected jsonl, csv or tsv")


class TokenizerCache:
    """Tokenizers by model name, loaded once per session (loading one takes a second or more)."""

    def __init__(self, registry):
        self.registry = registry
        self._loaded: dict[str, tuple[object, int | None]] = {}

    def get(self, model_name: str, progress: Progress = None) -> tuple[object, int | None]:
        if model_name not in self._loaded:
            self._loaded[model_name] = load_tokenizer(self.registry, model_name, progress)
        return self._loaded[model_name]

    def model_names(self, kind: str) -> list[str]:
        """Models whose tokenizer fits the dataset: chat models first for chat data, encoders and
        classifiers first for classification data; the default model of the kind leads."""
        entries = self.registry.list()
        preferred = ("chat",) if kind == "chat" else ("classifier", "encoder")
        names = [e.name for e in entries if e.kind in preferred] + [e.name for e in entries if e.kind not in preferred]
        default = default_tokenizer_model(kind)
        return sorted(names, key=lambda name: name != default)
