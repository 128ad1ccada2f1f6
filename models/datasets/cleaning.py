"""Cleaning tools. Each one looks at (row id, row) pairs and returns a CleaningPlan: which rows
would be removed, which would be rewritten, with a few examples, so a person sees what would
change before anything does.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from models.datasets.pii import PLACEHOLDERS, scrub_row
from models.datasets.rows import canonical_json, row_text

EXAMPLES = 50
Records = Iterable[tuple[int, dict]]


@dataclass
class CleaningPlan:
    action: str
    title: str
    total: int = 0
    remove: list[int] = field(default_factory=list)
    replace: dict[int, dict] = field(default_factory=dict)
    # (row number, before, after) shown in a preview: the number counts from 1 in the dataset's
    # order (as the page's table shows it); after is "" for a removed row, or says why.
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    details: Counter = field(default_factory=Counter)

    @property
    def changes(self) -> int:
        return len(self.remove) + len(self.replace)

    def summary(self) -> str:
        if not self.changes:
            return f"{self.title}: nothing to change in {self.total:,} rows."
        parts = []
        if self.remove:
            parts.append(f"{len(self.remove):,} of {self.total:,} rows would be removed")
        if self.replace:
            parts.append(f"{len(self.replace):,} of {self.total:,} rows would be changed")
        found = ", ".join(f"{count:,} {name}" for name, count in sorted(self.details.items()))
        return f"{self.title}: " + "; ".join(parts) + (f" ({found})" if found else "") + "."

    def _example(self, number: int, before: str, after: str = "") -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append((number, before, after))


_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Text reduced to what a reader would call 'the same': compatibility forms folded, case
    folded, accents kept, punctuation and runs of whitespace collapsed to one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", text).strip()


def near_key(row: dict) -> str:
    if "messages" in row:
        return "\n".join(f"{m['role']}:{normalize_text(m['content'])}" for m in row["messages"])
    return f"{normalize_text(row.get('text', ''))}\n{row.get('label', '')}"


def plan_duplicates(records: Records, near: bool = False) -> CleaningPlan:
    """Rows that repeat an earlier row; the first of each group stays. Exact compares whole rows,
    near compares normalised text (and the label: the same text with another label is not a copy)."""
    plan = CleaningPlan("near-duplicates" if near else "duplicates",
                        "Near-duplicates" if near else "Exact duplicates")
    first_seen: dict[str, int] = {}
    for number, (row_id, row) in enumerate(records, start=1):
        plan.total += 1
        key = near_key(row) if near else canonical_json(row)
        if key in first_seen:
            plan.remove.append(row_id)
            plan._example(number, row_text(row), f"(removed: the same as row {first_seen[key]})")
        else:
            first_seen[key] = number
    return plan


def is_empty(row: dict) -> bool:
    """Nothing to learn from: a blank text or label; a chat without a user message or a reply."""
    if "messages" in row:
        spoken = {m["role"] for m in row["messages"] if m["content"].strip()}
        return not {"user", "assistant"} <= spoken
    return not row.get("text", "").strip() or not row.get("label", "").strip()


def plan_empty(records: Records) -> CleaningPlan:
    plan = CleaningPlan("empty", "Empty rows")
    for number, (row_id, row) in enumerate(records, start=1):
        plan.total += 1
        if is_empty(row):
            plan.remove.append(row_id)
            plan._example(number, row_text(row) or "(blank)")
    return plan


def plan_token_length(records: Iterable[tuple[int, dict, int]], min_tokens: int = 0,
                      max_tokens: int | None = None) -> CleaningPlan:
    """Rows shorter than min_tokens or longer than max_tokens (lengths from the model's tokenizer)."""
    bounds = f"{min_tokens}–{max_tokens}" if max_tokens else f"at least {min_tokens}"
    plan = CleaningPlan("token-length", f"Token length outside {bounds}")
    for number, (row_id, row, length) in enumerate(records, start=1):
        plan.total += 1
        if length < min_tokens or (max_tokens is not None and length > max_tokens):
            plan.remove.append(row_id)
            too_long = max_tokens is not None and length > max_tokens
            plan.details["too long" if too_long else "too short"] += 1
            plan._example(number, row_text(row)[:500], f"(removed: {length:,} tokens, too {'long' if too_long else 'short'})")
    return plan


def plan_pii(records: Records) -> CleaningPlan:
    plan = CleaningPlan("pii", "Personal data replaced by " + ", ".join(PLACEHOLDERS.values()))
    names = {"email": "e-mail addresses", "phone": "phone numbers", "card": "card numbers", "iban": "IBANs"}
    for number, (row_id, row) in enumerate(records, start=1):
        plan.total += 1
        scrubbed, counts = scrub_row(row)
        if counts:
            plan.replace[row_id] = scrubbed
            plan.details.update({names[kind]: n for kind, n in counts.items()})
            plan._example(number, row_text(row), row_text(scrubbed))
    return plan
