"""Figures about a dataset: size, labels, lengths, and how many rows the model would cut short."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from models.datasets.cleaning import is_empty, normalize_text
from models.datasets.rows import canonical_json, row_text


@dataclass
class LengthSummary:
    count: int
    minimum: int
    mean: float
    median: float
    p95: float
    maximum: int

    @classmethod
    def of(cls, values: Sequence[int]) -> "LengthSummary | None":
        if not len(values):
            return None
        import numpy as np

        array = np.asarray(values)
        return cls(len(array), int(array.min()), float(array.mean()), float(np.median(array)),
                   float(np.percentile(array, 95)), int(array.max()))


@dataclass
class DatasetStats:
    kind: str
    rows: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)  # most frequent first
    characters: LengthSummary | None = None
    messages_per_row: LengthSummary | None = None
    message_count_rows: dict[int, int] = field(default_factory=dict)  # chat: rows with n messages
    empty_rows: int = 0
    duplicate_rows: int = 0
    conflicting_texts: int = 0  # the same text under two labels or more
    tokens: LengthSummary | None = None
    context_length: int | None = None
    truncated: int | None = None  # rows longer than the context


def compute_stats(kind: str, rows: Iterable[dict]) -> DatasetStats:
    stats = DatasetStats(kind=kind)
    labels: Counter = Counter()
    characters, messages = [], []
    seen: set[str] = set()
    labels_by_text: dict[str, set] = {}
    for row in rows:
        stats.rows += 1
        characters.append(len(row_text(row)))
        if is_empty(row):
            stats.empty_rows += 1
        key = canonical_json(row)
        if key in seen:
            stats.duplicate_rows += 1
        seen.add(key)
        if "messages" in row:
            messages.append(len(row["messages"]))
        else:
            labels[row["label"]] += 1
            labels_by_text.setdefault(normalize_text(row["text"]), set()).add(row["label"])
    stats.label_counts = dict(sorted(labels.items(), key=lambda item: (-item[1], item[0])))
    stats.characters = LengthSummary.of(characters)
    stats.messages_per_row = LengthSummary.of(messages)
    stats.message_count_rows = dict(sorted(Counter(messages).items()))
    stats.conflicting_texts = sum(1 for found in labels_by_text.values() if len(found) > 1)
    return stats


def add_token_lengths(stats: DatasetStats, lengths: Sequence[int], context_length: int | None) -> DatasetStats:
    stats.tokens = LengthSummary.of(lengths)
    stats.context_length = context_length
    stats.truncated = sum(1 for n in lengths if n > context_length) if context_length else None
    return stats


def histogram(lengths: Sequence[int], bins: int = 40) -> tuple[list[int], list[float]]:
    """(counts, bin edges) for a length histogram; edges has one more entry than counts."""
    if not len(lengths):
        return [], []
    import numpy as np

    counts, edges = np.histogram(np.asarray(lengths), bins=min(bins, max(1, len(set(lengths)))))
    return counts.tolist(), edges.tolist()
