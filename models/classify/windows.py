"""Long texts are cut into overlapping token windows; the windows' scores make the document's.

A window knows which text it came from and where (character offsets), so the window that
weighed most for the chosen label can be shown as the evidence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.classify.prediction import Prediction

OVERLAP_TOKENS = 32
MAX_WINDOWS = 16
CHARS_PER_TOKEN_BOUND = 12  # no real text averages more; texts are cut to this before tokenizing


@dataclass
class Window:
    text_index: int
    ids: list[int]       # input ids, special tokens included
    start: int           # character offsets of the window in its text
    end: int


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text ([CLS] and [SEP] for BERT)."""
    probe = "hello"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain):])
    return [], []


def cut_windows(tokenizer, texts: list[str], max_length: int, overlap: int = OVERLAP_TOKENS,
                max_windows: int = MAX_WINDOWS) -> list[Window]:
    """Windows of at most max_length tokens (with special tokens), each overlapping the last by `overlap`."""
    prefix, suffix = special_tokens(tokenizer)
    content = max_length - len(prefix) - len(suffix)
    if content <= overlap:
        raise ValueError(f"windows of {max_length} tokens cannot overlap by {overlap}")
    step = content - overlap
    limit = max_windows * content * CHARS_PER_TOKEN_BOUND
    encoded = tokenizer([t[:limit] for t in texts], add_special_tokens=False, return_offsets_mapping=True)
    windows = []
    for index, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
        if not ids:
            windows.append(Window(index, prefix + suffix, 0, 0))
            continue
        for number, first in enumerate(range(0, len(ids), step)):
            last = min(first + content, len(ids))
            windows.append(Window(index, prefix + list(ids[first:last]) + suffix,
                                  offsets[first][0], offsets[last - 1][1]))
            if last == len(ids) or number + 1 == max_windows:
                break
    return windows


def aggregate(texts: list[str], windows: list[Window], probabilities: np.ndarray,
              labels: list[str]) -> list[Prediction]:
    """Each text's probabilities are the mean over its windows; its evidence, the window that
    gave the chosen label the highest probability."""
    by_text: list[list[int]] = [[] for _ in texts]
    for row, window in enumerate(windows):
        by_text[window.text_index].append(row)
    predictions = []
    for index, rows in enumerate(by_text):
        mean = probabilities[rows].mean(axis=0)
        best = int(mean.argmax())
        strongest = windows[rows[int(probabilities[rows, best].argmax())]]
        evidence = texts[index][strongest.start:strongest.end] or None
        predictions.append(Prediction(
            label=labels[best], score=float(mean[best]),
            scores={label: float(p) for label, p in zip(labels, mean)},
            evidence=evidence, evidence_span=(strongest.start, strongest.end) if evidence else None,
            windows=len(rows),
        ))
    return predictions


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
