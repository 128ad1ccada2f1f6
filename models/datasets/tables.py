"""CSV and TSV files: a header row, and a mapping from columns to the parts of a row.

A mapping is a dict naming columns:

* classification: ``{"text": "review", "label": "stars"}`` (``text`` may list several columns,
  joined by a blank line);
* chat, one turn per row: ``{"prompt": "question", "response": "answer", "system": "system"?}``;
* chat, whole conversations: ``{"messages": "messages"}`` where the column holds the JSON list.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
from typing import Iterable, TextIO

from models.datasets.errors import DatasetError
from models.datasets.formats import BadLine, ParseResult
from models.datasets.rows import RowError, check_chat_row, check_classification_row

TEXT_NAMES = ("text", "sentence", "content", "document", "body", "review", "description", "title")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "topic", "sentiment", "intent", "rating", "stars")
PROMPT_NAMES = ("prompt", "instruction", "question", "query", "input", "user")
RESPONSE_NAMES = ("response", "output", "answer", "completion", "assistant", "reply")
FIELD_LIMIT = 2**31 - 1


def _find(columns: list[str], names: Iterable[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def mapping_kind(mapping: dict) -> str:
    return "chat" if ("messages" in mapping or "prompt" in mapping) else "classification"


def guess_mapping(columns: list[str], sample: list[list[str]] | None = None) -> dict:
    """The most likely mapping for a header (and a few records, for headers that name nothing
    known); the user may change it before importing."""
    if not columns:
        raise DatasetError("the table has no header row")
    messages = _find(columns, ("messages", "conversation"))
    if messages:
        return {"messages": messages}
    prompt, response = _find(columns, PROMPT_NAMES), _find(columns, RESPONSE_NAMES)
    if prompt and response and prompt != response:
        mapping = {"prompt": prompt, "response": response}
        system = _find(columns, ("system", "system_prompt"))
        if system:
            mapping["system"] = system
        return mapping
    if len(columns) == 1:
        return {"text": columns[0]}
    label, text = _find(columns, LABEL_NAMES), None
    if label is None and sample:
        # The label is the column with the fewest different values (the rightmost of equals, and
        # never an "id"); the text is the longest one.
        distinct = {c: len({r[i] for r in sample if i < len(r)}) for i, c in enumerate(columns)}
        candidates = [c for c in columns if c.lower() != "id"] or columns
        label = min(candidates, key=lambda c: (distinct[c], -columns.index(c)))
    label = label or columns[-1]
    text = _find([c for c in columns if c != label], TEXT_NAMES)
    if text is None:
        others = [c for c in columns if c != label]
        if sample:
            mean_length = {c: sum(len(r[columns.index(c)]) for r in sample if columns.index(c) < len(r)) for c in others}
            text = max(others, key=lambda c: mean_length[c])
        else:
            text = others[0]
    return {"text": text, "label": label}


def looks_like_header(first: list[str]) -> bool:
    """A first row of names, not of data: no numbers, no empty, long or repeated cells."""
    cells = [c.strip() for c in first]
    if len(set(cells)) != len(cells) or any(not c or len(c) > 40 for c in cells):
        return False
    if any(_is_number(c) for c in cells):
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_mapping(mapping: dict, columns: list[str]) -> None:
    for part, names in mapping.items():
        for name in names if isinstance(names, list) else [names]:
            if name is not None and name not in columns:
                raise DatasetError(f"column {name!r} (for {part}) is not in the header: {', '.join(columns)}")
    if mapping_kind(mapping) == "classification" and not mapping.get("label"):
        raise DatasetError("choose the column that holds the label")
    if "prompt" in mapping and not mapping.get("response"):
        raise DatasetError("choose the column that holds the response")


def row_from_record(values: dict[str, str], mapping: dict) -> dict:
    if "messages" in mapping:
        try:
            messages = json.loads(values[mapping["messages"]])
        except json.JSONDecodeError as exc:
            raise RowError(f"column {mapping['messages']!r} is not valid JSON ({exc.msg})") from None
        return check_chat_row({"messages": messages})
    if "prompt" in mapping:
        messages = []
        system = values.get(mapping["system"]) if mapping.get("system") else ""
        if system:
            messages.append({"role": "system", "content": system})
        messages += [{"role": "user", "content": values[mapping["prompt"]]},
                     {"role": "assistant", "content": values[mapping["response"]]}]
        return check_chat_row({"messages": messages})
    text_columns = mapping["text"] if isinstance(mapping["text"], list) else [mapping["text"]]
    text = "\n\n".join(values[c] for c in text_columns if values[c])
    return check_classification_row({"text": text, "label": values[mapping["label"]]})


SAMPLE_RECORDS = 200


def parse_table_text(text: str, delimiter: str = ",", mapping: dict | None = None, fmt: str = "csv",
                     header: bool | None = None) -> ParseResult:
    """Rows of a CSV/TSV text. `header` None guesses whether the first row names the columns;
    without a header the columns are called "column 1", "column 2", ..."""
    csv.field_size_limit(FIELD_LIMIT)
    try:
        sample = list(itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), SAMPLE_RECORDS))
    except csv.Error as exc:
        raise DatasetError(f"the table cannot be read ({exc})") from None
    sample = [r for r in sample if r]
    if not sample:
        raise DatasetError("the file is empty")
    if header is None:
        header = looks_like_header(sample[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if header:
        columns = [c.strip() for c in next(reader)]
        sample = sample[1:]
    else:
        columns = [f"column {i}" for i in range(1, len(sample[0]) + 1)]
    mapping = dict(mapping) if mapping else guess_mapping(columns, sample)
    _check_mapping(mapping, columns)
    result = ParseResult(format=fmt, kind=mapping_kind(mapping), columns=columns, mapping=mapping, header=header)
    previous_end = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DatasetError(f"line {reader.line_num}: the table cannot be read ({exc})") from None
        start, previous_end = previous_end + 1, reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) != len(columns):
            result.bad_lines.append(BadLine(start, f"has {len(record)} fields; expected {len(columns)}"))
            continue
        try:
            result.rows.append(row_from_record(dict(zip(columns, record)), mapping))
        except RowError as exc:
            result.bad_lines.append(BadLine(start, str(exc)))
    return result


def _single_turn(row: dict) -> bool:
    roles = [m["role"] for m in row["messages"]]
    if roles == ["user", "assistant"]:
        return True
    return roles == ["system", "user", "assistant"] and bool(row["messages"][0]["content"])


def write_table(rows: Iterable[dict], kind: str, handle: TextIO, delimiter: str = ",") -> int:
    """Write rows as CSV/TSV with a header; returns how many rows were written.

    Classification rows become text,label. Chat rows become system,prompt,response when every row
    is one exchange, and a single messages column (JSON) otherwise, so nothing is lost.
    """
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    rows = list(rows) if kind == "chat" else rows
    if kind == "classification":
        writer.writerow(["text", "label"])
        count = 0
        for row in rows:
            writer.writerow([row["text"], row["label"]])
            count += 1
        return count
    if all(_single_turn(row) for row in rows):
        with_system = any(row["messages"][0]["role"] == "system" for row in rows)
        writer.writerow((["system"] if with_system else []) + ["prompt", "response"])
        for row in rows:
            messages = row["messages"]
            system = messages[0]["content"] if messages[0]["role"] == "system" else ""
            writer.writerow(([system] if with_system else []) + [messages[-2]["content"], messages[-1]["content"]])
    else:
        writer.writerow(["messages"])
        for row in rows:
            writer.writerow([json.dumps(row["messages"], ensure_ascii=False)])
    return len(rows)
