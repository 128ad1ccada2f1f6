"""Training data files: which format a file is in, and its rows in Fireside's two shapes.

JSON Lines (or a JSON array of objects) in four formats, recognised by their keys:

* ``openai``: ``{"messages": [{"role", "content"}, ...]}``
* ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...], "system"?}``
* ``alpaca``: ``{"instruction", "input"?, "output", "system"?, "history"?: [[q, a], ...]}``
* ``classification``: ``{"text", "label"}``

Tables (CSV/TSV) live in models.datasets.tables, labelled folders in models.datasets.folder.
A line that cannot be read becomes a BadLine with its line number; the caller decides whether to
skip those or give up, before anything is written.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from models.datasets.errors import DatasetError
from models.datasets.rows import RowError, check_chat_row, check_classification_row
from models.datasets.textfile import read_text_file

JSON_FORMATS = {
    "openai": "OpenAI chat (messages)",
    "sharegpt": "ShareGPT (conversations)",
    "alpaca": "Alpaca (instruction / input / output)",
    "classification": "Text and label",
}
FORMAT_KINDS = {"openai": "chat", "sharegpt": "chat", "alpaca": "chat", "classification": "classification"}
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bard": "assistant", "bing": "assistant", "model": "assistant", "system": "system",
}
FORMAT_KEYS = {
    "openai": '"messages"', "sharegpt": '"conversations"', "alpaca": '"instruction" and "output"',
    "classification": '"text" and "label"',
}
DETECTION_SAMPLE = 200


@dataclass(frozen=True)
class BadLine:
    number: int
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.message}"


@dataclass
class ParseResult:
    format: str
    kind: str
    rows: list[dict] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    # For tables: the header and the mapping used, so a dialog can offer to change it.
    columns: list[str] = field(default_factory=list)
    mapping: dict = field(default_factory=dict)
    header: bool = True

    @property
    def ok(self) -> bool:
        return not self.bad_lines

    def bad_lines_summary(self, limit: int = 5) -> str:
        """One line for people: how many were bad, and the first few of them."""
        shown = "; ".join(str(bad) for bad in self.bad_lines[:limit])
        more = f"; and {len(self.bad_lines) - limit} more" if len(self.bad_lines) > limit else ""
        unit = self.bad_lines[0].unit if self.bad_lines else "line"
        return f"{len(self.bad_lines)} malformed {unit}{'s' if len(self.bad_lines) != 1 else ''}: {shown}{more}"


# -- reading records -----------------------------------------------------------------------------
def json_records(text: str) -> Iterator[tuple[int, object, str]]:
    """(number, object or BadLine, unit) for each record of a JSONL text or a JSON array."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        if not isinstance(items, list):
            raise DatasetError("a JSON file must hold one object per line or a list of objects")
        for number, item in enumerate(items, start=1):
            yield number, item, "item"
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), "line"
        except json.JSONDecodeError as exc:
            yield number, BadLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})"), "line"


def record_format(obj: object) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return "openai"
    if "conversations" in obj:
        return "sharegpt"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    if "text" in obj and "label" in obj:
        return "classification"
    return None


def detect_json_format(records: Iterable[object]) -> str:
    votes = Counter()
    for obj in records:
        found = record_format(obj)
        if found:
            votes[found] += 1
        if sum(votes.values()) >= DETECTION_SAMPLE:
            break
    if not votes:
        raise DatasetError(
            "no record looks like a known format (expected \"messages\", \"conversations\", "
            "\"instruction\"/\"output\", or \"text\"/\"label\" keys)"
        )
    return votes.most_common(1)[0][0]


# -- converting one record to a row --------------------------------------------------------------
def _content_text(content: object) -> object:
    """OpenAI content may be a list of parts; keep the text parts."""
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        if all(isinstance(t, str) for t in texts) and texts:
            return "".join(texts)
    return content


def from_openai(obj: dict) -> dict:
    if not isinstance(obj.get("messages"), list):
        raise RowError('"messages" must be a list')
    messages = [
        {"role": m.get("role"), "content": _content_text(m.get("content"))} if isinstance(m, dict) else m
        for m in obj["messages"]
    ]
    return check_chat_row({"messages": messages})


def from_sharegpt(obj: dict) -> dict:
    turns = obj.get("conversations")
    if not isinstance(turns, list):
        raise RowError('"conversations" must be a list')
    messages = []
    if isinstance(obj.get("system"), str) and obj["system"]:
        messages.append({"role": "system", "content": obj["system"]})
    for number, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise RowError(f"turn {number} is not an object")
        speaker = turn.get("from")
        role = SHAREGPT_ROLES.get(str(speaker).lower()) if speaker is not None else None
        if role is None:
            raise RowError(f"turn {number} is from {speaker!r}; expected human, gpt or system")
        messages.append({"role": role, "content": turn.get("value")})
    return check_chat_row({"messages": messages})


def from_alpaca(obj: dict) -> dict:
    instruction, extra, output = obj.get("instruction"), obj.get("input") or "", obj.get("output")
    if not isinstance(instruction, str):
        raise RowError('"instruction" must be text')
    if not isinstance(extra, str):
        raise RowError('"input" must be text')
    if not isinstance(output, str):
        raise RowError('"output" must be text')
    messages = []
    if isinstance(obj.get("system"), str) and obj["system"]:
        messages.append({"role": "system", "content": obj["system"]})
    for pair in obj.get("history") or []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise RowError('"history" must be a list of [question, answer] pairs')
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    prompt = f"{instruction}\n\n{extra}" if extra and instruction else (instruction or extra)
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return check_chat_row({"messages": messages})


CONVERTERS: dict[str, Callable[[dict], dict]] = {
    "openai": from_openai,
    "sharegpt": from_sharegpt,
    "alpaca": from_alpaca,
    "classification": check_classification_row,
}


# -- whole files ---------------------------------------------------------------------------------
def parse_json_text(text: str, fmt: str = "auto") -> ParseResult:
    records = list(json_records(text))
    if fmt == "auto":
        fmt = detect_json_format(obj for _, obj, _ in records if not isinstance(obj, BadLine))
    if fmt not in CONVERTERS:
        raise DatasetError(f"unknown format {fmt!r}; expected one of {', '.join(JSON_FORMATS)}")
    convert = CONVERTERS[fmt]
    result = ParseResult(format=fmt, kind=FORMAT_KINDS[fmt])
    for number, obj, unit in records:
        if isinstance(obj, BadLine):
            result.bad_lines.append(obj)
            continue
        if not isinstance(obj, dict):
            result.bad_lines.append(BadLine(number, "not a JSON object", unit))
            continue
        found = record_format(obj)
        if found != fmt:
            seen = f"looks like {JSON_FORMATS[found]}" if found else f"has none of the keys {FORMAT_KEYS[fmt]}"
            result.bad_lines.append(BadLine(number, f"{seen}; the file is {JSON_FORMATS[fmt]}", unit))
            continue
        try:
            result.rows.append(convert(obj))
        except RowError as exc:
            result.bad_lines.append(BadLine(number, str(exc), unit))
    return result


TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}


def guess_file_format(path: Path, text: str) -> str:
    """'json' for JSON Lines or a JSON array, 'csv' or 'tsv' for tables."""
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[suffix]
    first = text.lstrip()[:1]
    if first in ("{", "["):
        return "json"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "json"
    first_line = text.split("\n", 1)[0]
    return "tsv" if first_line.count("\t") > first_line.count(",") else "csv"


def parse_file(path: Path, fmt: str = "auto", mapping: dict | None = None, header: bool | None = None) -> ParseResult:
    """Read a data file and convert every record; bad records are listed, never raised.

    `fmt` is "auto", one of JSON_FORMATS, "csv" or "tsv". `mapping` names the columns of a table
    (see models.datasets.tables.guess_mapping); without it the columns are guessed from the header.
    `header` says whether a table's first row names its columns (None: guessed).
    """
    from models.datasets import tables

    path = Path(path)
    text = read_text_file(path)
    container = guess_file_format(path, text) if fmt == "auto" else ("json" if fmt in JSON_FORMATS else fmt)
    if container in ("csv", "tsv"):
        return tables.parse_table_text(text, delimiter="\t" if container == "tsv" else ",", mapping=mapping,
                                       fmt=container, header=header)
    if container != "json":
        raise DatasetError(f"unknown format {fmt!r}")
    try:
        return parse_json_text(text, fmt)
    except DatasetError as exc:
        raise DatasetError(f"{path.name}: {exc}") from None


# -- writing -------------------------------------------------------------------------------------
def export_jsonl_lines(rows: Iterable[dict]) -> Iterator[str]:
    """JSON Lines for people and other tools: chat rows in the OpenAI format, others as text/label."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"
