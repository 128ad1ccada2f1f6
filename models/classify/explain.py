"""Which words pushed a text toward its label: occlusion.

Each word (or, in a long text, each run of neighbouring words) is removed in turn and the text
scored again; the drop in the label's log-odds is that word's weight. Positive weights pushed
toward the label, negative ones away from it. It works the same for every kind of classifier,
and costs one batch of at most MAX_UNITS + 1 texts.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

MAX_UNITS = 48
WORD = re.compile(r"\w+(?:['’.-]\w+)*", re.UNICODE)


@dataclass
class Explanation:
    text: str
    label: str
    score: float
    spans: list[tuple[int, int, float]]   # (start, end, weight in -1..1) over characters of text

    def top_words(self, count: int = 5, least: float = 0.2) -> list[tuple[str, float]]:
        """The words that pushed hardest toward the label, strongest first."""
        ranked = sorted(self.spans, key=lambda s: -s[2])
        return [(self.text[s:e], w) for s, e, w in ranked[:count] if w >= least]


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def word_units(text: str, max_units: int = MAX_UNITS) -> list[tuple[int, int]]:
    """Character spans of words, grouped into at most max_units runs of neighbours."""
    words = [(m.start(), m.end()) for m in WORD.finditer(text)]
    if len(words) <= max_units:
        return words
    size = math.ceil(len(words) / max_units)
    return [(words[i][0], words[min(i + size, len(words)) - 1][1]) for i in range(0, len(words), size)]


def explain(classifier, text: str, label: str | None = None, max_units: int = MAX_UNITS) -> Explanation:
    """Occlusion weights for `label` (the predicted label if None) over the words of `text`."""
    units = word_units(text, max_units)
    variants = [text] + [text[:start] + text[end:] for start, end in units]
    probabilities = classifier.score_texts(variants)
    column = int(probabilities[0].argmax()) if label is None else classifier.labels.index(label)
    odds = _log_odds(probabilities[:, column])
    drops = odds[0] - odds[1:]
    scale = float(np.abs(drops).max()) if len(drops) else 0.0
    weights = drops / scale if scale > 0 else drops
    return Explanation(
        text=text, label=classifier.labels[column], score=float(probabilities[0, column]),
        spans=[(start, end, float(w)) for (start, end), w in zip(units, weights)],
    )
