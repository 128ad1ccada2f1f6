"""Training data for a job: reading it, checking it, splitting it, and freezing it into JSONL.

Rows are plain dicts: classification `{"text", "label"}`, chat `{"messages": [{"role", "content"}]}`,
documents `{"text"}`. A job never reads the user's files or database again once its snapshot is
written: `data/train.jsonl` and `data/eval.jsonl` in the job folder, with their sha256 in the config.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter
from pathlib import Path

from models.errors import ModelError

DOCUMENT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".csv", ".tsv", ".json", ".html", ".htm",
                     ".pdf", ".docx"}
CHAT_ROLES = {"system", "user", "assistant"}


class JobRefused(ModelError):
    """The job cannot start as asked; the message says why and what to change."""


# -- reading ------------------------------------------------------------------------------------
def read_labelled_file(path: Path) -> list[dict]:
    """Rows of a CSV (columns text,label) or TSV (sentence,label or text,label) file with a header."""
    path = Path(path)
    if not path.is_file():
        raise JobRefused(f"{path}: no such file")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            text_field = next((f for f in ("text", "sentence") if f in fields), None)
            if text_field is None or "label" not in fields:
                raise JobRefused(f"{path}: needs a header with columns text,label (or sentence,label); "
                                 f"found {', '.join(fields) or 'none'}")
            names = {f.strip().lower(): f for f in reader.fieldnames}
            rows = []
            for record in reader:
                text = (record.get(names[text_field]) or "").strip()
                label = (record.get(names["label"]) or "").strip()
                if text and label:
                    rows.append({"text": text, "label": label})
            return rows
    except UnicodeDecodeError as exc:
        raise JobRefused(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise JobRefused(f"{path}: not a readable CSV/TSV file ({exc})") from exc


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise JobRefused(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
    return rows


def _read_document(path: Path) -> str:
    """Text of one document: the documents module when it is there, plain text files otherwise."""
    try:
        from models.documents import DocumentError, read_document
    except ImportError:
        if path.suffix.lower() in (".pdf", ".docx"):
            return ""
        return path.read_text(encoding="utf-8", errors="replace")
    try:
        return read_document(path).text
    except DocumentError:
        return ""


def read_documents(folder: Path) -> tuple[list[dict], list[str]]:
    """({"text"} rows, skipped file names) for every readable document under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise JobRefused(f"{folder}: not a folder of documents")
    rows, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() not in DOCUMENT_SUFFIXES:
            skipped.append(path.name)
            continue
        text = _read_document(path).strip()
        if text:
            rows.append({"text": text, "source": path.name})
        else:
            skipped.append(path.name)
    return rows, skipped


# -- checking -----------------------------------------------------------------------------------
def check_rows(recipe: str, rows: list[dict], what: str = "training data") -> list[dict]:
    """The usable rows, or JobRefused saying what is wrong with them."""
    if recipe == "classifier":
        good = [{"text": str(r["text"]).strip(), "label": str(r["label"]).strip()}
                for r in rows if str(r.get("text") or "").strip() and str(r.get("label") or "").strip()]
        if not good:
            raise JobRefused(f"the {what} is empty: no rows with both a text and a label")
        labels = Counter(r["label"] for r in good)
        if len(labels) < 2 and what == "training data":
            raise JobRefused(f"the {what} has a single label ({next(iter(labels))!r}); "
                             "a classifier needs examples of at least two labels")
        return good
    if recipe == "chat":
        good = []
        for row in rows:
            messages = [{"role": m.get("role"), "content": str(m.get("content") or "")}
                        for m in row.get("messages") or [] if isinstance(m, dict)]
            messages = [m for m in messages if m["role"] in CHAT_ROLES]
            if any(m["role"] == "assistant" and m["content"].strip() for m in messages):
                good.append({"messages": messages})
        if not good:
            raise JobRefused(f"the {what} is empty: no conversation with an assistant reply to learn from")
        return good
    if recipe == "pretrain":
        good = [{"text": str(r["text"])} for r in rows if str(r.get("text") or "").strip()]
        if not good:
            raise JobRefused(f"the {what} is empty: no document with any text")
        return good
    raise JobRefused(f"unknown recipe {recipe!r} (classifier, chat or pretrain)")


def split_rows(recipe: str, rows: list[dict], fraction: float, seed: int = 42) -> tuple[list[dict], list[dict]]:
    """(train, eval); classification is split per label so every label is in both parts where it can be."""
    rng = random.Random(seed)
    if recipe != "classifier":
        shuffled = rows[:]
        rng.shuffle(shuffled)
        count = max(1, round(len(rows) * fraction))
        return shuffled[count:], shuffled[:count]
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    train, held = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        count = round(len(group) * fraction) if len(group) >= 2 else 0
        count = max(count, 1) if len(group) >= 4 else count
        held.extend(group[:count])
        train.extend(group[count:])
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held


# -- freezing -----------------------------------------------------------------------------------
def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def snapshot_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
