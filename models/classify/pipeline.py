"""Classify many documents: read them, predict in length-sorted chunks, report as they finish.

Used by the Classify page (in a background worker, which stores each chunk's outcomes) and by
`fireside classify` (which prints them). A document that cannot be read becomes an outcome with
an error; the run goes on. Cancelling stops between batches and keeps what was done.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.classify.prediction import Cancelled, Prediction, RunControl
from models.documents.finder import counted
from models.documents import (
    TABLE_SUFFIXES, DocumentError, FoundDocuments, find_documents, read_document, read_table,
)

CHUNK_DOCUMENTS = 64


@dataclass
class Source:
    """One document to classify: a file, or a row of a table (row_key set, text already known)."""
    path: str
    name: str
    row_key: str = ""
    text: str | None = None
    document_id: int | None = None  # the caller's own id, handed back untouched


@dataclass
class Outcome:
    source: Source
    text: str | None = None
    format: str | None = None
    size_bytes: int | None = None
    prediction: Prediction | None = None
    error: str | None = None


@dataclass
class Progress:
    done: int
    total: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def eta_s(self) -> float | None:
        if self.done <= 0 or self.elapsed_s < 0.5:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass
class RunSummary:
    total: int = 0
    classified: int = 0
    failed: int = 0
    cancelled: bool = False
    elapsed_s: float = 0.0
    found: FoundDocuments | None = None
    errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.cancelled and not self.classified and not self.failed:
            parts = ["Stopped before any document was classified"]
        else:
            verb = "Stopped after" if self.cancelled else "Classified"
            parts = [f"{verb} {self.classified:,} of {self.total:,} documents in {self.elapsed_s:.1f} s"]
        if self.failed:
            parts.append(f"{self.failed:,} could not be read")
        if self.found is not None:
            if self.found.unsupported:
                parts.append(f"{counted(self.found.unsupported, 'file')} of other types skipped")
            if self.found.unreadable_folders:
                parts.append(f"{counted(len(self.found.unreadable_folders), 'folder')} could not be opened")
        return "; ".join(parts) + "."


def display_name(path: Path, roots: list[Path]) -> str:
    """The path relative to the dropped folder it was found in, else the file name."""
    for root in roots:
        try:
            return str(path.relative_to(root.parent))
        except ValueError:
            continue
    return path.name


def sources_from_paths(paths, text_column: str | None = None, id_column: str | None = None,
                       cancelled: Callable[[], bool] = lambda: False,
                       columns_by_path: dict[str, str] | None = None,
                       ) -> tuple[list[Source], list[Outcome], FoundDocuments]:
    """(sources, outcomes of tables that could not be read, what the folder walk found).
    A .csv/.tsv becomes one source per row; its text is columns_by_path[path], else text_column,
    else the likeliest column."""
    columns_by_path = {str(Path(k)): v for k, v in (columns_by_path or {}).items()}
    paths = [Path(p) for p in paths]
    found = find_documents(paths, cancelled)
    roots = [p for p in paths if p.is_dir()]
    sources, failed = [], []
    for file in found.files:
        name = display_name(file, roots)
        if file.suffix.lower() in TABLE_SUFFIXES:
            try:
                rows = read_table(file, columns_by_path.get(str(file), text_column), id_column)
            except DocumentError as exc:
                failed.append(Outcome(Source(str(file), name), error=exc.reason))
                continue
            sources += [Source(str(file), f"{name} · {row.id}", row_key=row.id, text=row.text) for row in rows]
        else:
            sources.append(Source(str(file), name))
    for missing in found.missing:
        failed.append(Outcome(Source(missing, Path(missing).name), error="does not exist"))
    return sources, failed, found


def _read(source: Source) -> Outcome:
    if source.text is not None:
        if not source.text.strip():
            return Outcome(source, text=source.text, format="table", error="has no text")
        return Outcome(source, text=source.text, format="table" if source.row_key else None,
                       size_bytes=len(source.text.encode("utf-8")))
    try:
        document = read_document(source.path)
    except DocumentError as exc:
        return Outcome(source, error=exc.reason)
    except OSError as exc:  # raced with the file system between checks: still one row, never a crash
        return Outcome(source, error=f"cannot be read ({exc.strerror or exc})")
    return Outcome(source, text=document.text, format=document.format, size_bytes=document.size_bytes)


def classify_sources(classifier, sources: list[Source], on_outcomes: Callable[[list[Outcome]], None],
                     on_progress: Callable[[Progress], None] | None = None,
                     cancelled: Callable[[], bool] = lambda: False,
                     chunk_size: int = CHUNK_DOCUMENTS) -> RunSummary:
    """Read and classify `sources` chunk by chunk; on_outcomes gets each chunk's outcomes in order."""
    summary = RunSummary(total=len(sources))
    started = time.perf_counter()

    last = [-1]

    def report(done: float) -> None:
        if on_progress is not None and int(done) != last[0]:
            last[0] = int(done)
            on_progress(Progress(int(done), len(sources), time.perf_counter() - started))

    report(0)
    for first in range(0, len(sources), chunk_size):
        if cancelled():
            summary.cancelled = True
            break
        outcomes = [_read(source) for source in sources[first:first + chunk_size]]
        readable = [o for o in outcomes if o.error is None]

        def within(done_windows: int, total_windows: int, first=first, count=len(outcomes)) -> None:
            report(first + count * done_windows / max(total_windows, 1))

        try:
            predictions = classifier.predict([o.text for o in readable],
                                             RunControl(on_progress=within, cancelled=cancelled))
        except Cancelled:
            summary.cancelled = True
            break
        for outcome, prediction in zip(readable, predictions):
            outcome.prediction = prediction
        summary.classified += len(readable)
        summary.failed += len(outcomes) - len(readable)
        summary.errors += [f"{o.source.name}: {o.error}" for o in outcomes if o.error]
        on_outcomes(outcomes)
        report(first + len(outcomes))
    summary.elapsed_s = time.perf_counter() - started
    return summary

