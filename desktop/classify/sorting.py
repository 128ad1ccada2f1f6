"""Sort classified files into one folder per label: copy, or move; never overwrite (no Qt).

A destination name already taken gets " (2)", " (3)" ... before its extension; files are
created with exclusive creation, so not even a file appearing meanwhile is overwritten.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.documents.finder import counted


@dataclass
class SortItem:
    document_id: int
    source: str
    label: str | None
    is_file: bool = True    # False for a row of a table, which has no file of its own


@dataclass
class SortReport:
    move: bool
    target: str
    done: list[tuple[int, str, str]] = field(default_factory=list)   # (document id, from, to)
    renamed: int = 0
    skipped_rows: int = 0
    skipped_unlabelled: int = 0
    failed: list[str] = field(default_factory=list)
    cancelled: bool = False

    def text(self) -> str:
        folders = len({Path(to).parent for _, _, to in self.done})
        verb = "Moved" if self.move else "Copied"
        parts = [f"{verb} {counted(len(self.done), 'file')} into {counted(folders, 'folder')} under {self.target}"]
        if self.renamed:
            parts.append(f"{self.renamed:,} renamed because a file of that name was already there")
        if self.skipped_rows:
            parts.append(f"{counted(self.skipped_rows, 'table row')} skipped (rows are not files)")
        if self.skipped_unlabelled:
            parts.append(f"{self.skipped_unlabelled:,} without a label skipped")
        if self.failed:
            parts.append(f"{len(self.failed):,} failed ({self.failed[0]}" + (", …)" if len(self.failed) > 1 else ")"))
        if self.cancelled:
            parts.append("stopped before the end")
        return "; ".join(parts) + "."


def folder_name(label: str) -> str:
    """A label as a folder name on every platform ("Sci/Tech" -> "Sci-Tech")."""
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]+', "-", label).strip(" .")
    return name or "unnamed"


def _exclusive_copy(source: Path, folder: Path) -> tuple[Path, bool]:
    """Copy source into folder under a free name; (destination, renamed)."""
    stem, suffix = source.stem, source.suffix
    for number in range(1, 10_000):
        candidate = folder / (source.name if number == 1 else f"{stem} ({number}){suffix}")
        try:
            writer = open(candidate, "xb")
        except FileExistsError:
            continue
        try:
            with open(source, "rb") as reader, writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
            shutil.copystat(source, candidate)
        except BaseException:
            candidate.unlink(missing_ok=True)
            raise
        return candidate, number > 1
    raise OSError(f"no free name for {source.name} in {folder}")


def sort_into_folders(items: list[SortItem], target: Path, move: bool = False,
                      progress: Callable[[float, str], None] | None = None,
                      cancelled: Callable[[], bool] = lambda: False) -> SortReport:
    target = Path(target)
    report = SortReport(move=move, target=str(target))
    for number, item in enumerate(items, start=1):
        if cancelled():
            report.cancelled = True
            break
        if not item.is_file:
            report.skipped_rows += 1
            continue
        if not item.label:
            report.skipped_unlabelled += 1
            continue
        source = Path(item.source)
        if not source.is_file():
            report.failed.append(f"{source.name}: no longer exists")
            continue
        try:
            folder = target / folder_name(item.label)
            folder.mkdir(parents=True, exist_ok=True)
            destination, renamed = _exclusive_copy(source, folder)
            if move:
                try:
                    os.remove(source)
                except OSError:
                    destination.unlink(missing_ok=True)  # keep exactly one copy: the original
                    raise
            report.done.append((item.document_id, str(source), str(destination)))
            report.renamed += renamed
        except OSError as exc:
            report.failed.append(f"{source.name}: {exc.strerror or exc}")
        if progress is not None:
            progress(number / len(items), f"{number:,} of {len(items):,} files")
    return report
