"""What the three kinds of classifier share: windows in, one Prediction per text out."""
from __future__ import annotations

import numpy as np

from models.classify.prediction import Prediction, RunControl
from models.classify.windows import MAX_WINDOWS, OVERLAP_TOKENS, aggregate, cut_windows


def check_labels(labels) -> list[str]:
    labels = [str(label).strip() for label in labels or []]
    if any(not label for label in labels):
        raise ValueError("a label cannot be empty")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be different from each other")
    if len(labels) < 2:
        raise ValueError("a classifier needs at least two labels")
    return labels


class WindowedClassifier:
    """Subclasses set labels, tokenizer and max_length, and implement window_probabilities."""

    method = ""
    labels: list[str]
    tokenizer = None
    max_length: int = 256
    overlap: int = OVERLAP_TOKENS
    max_windows: int = MAX_WINDOWS

    def window_probabilities(self, sequences: list[list[int]], control: RunControl | None = None,
                             exact: bool = False) -> np.ndarray:
        """(len(sequences), len(labels)) probabilities for ready-made input id lists. `exact` asks
        for the unquantized model, whose answer for a text does not depend on its batch-mates."""
        raise NotImplementedError

    def predict(self, texts: list[str], control: RunControl | None = None) -> list[Prediction]:
        texts = [str(t) for t in texts]
        if not texts:
            return []
        windows = cut_windows(self.tokenizer, texts, self.max_length, self.overlap, self.max_windows)
        probabilities = self.window_probabilities([w.ids for w in windows], control)
        return aggregate(texts, windows, probabilities, self.labels)

    def score_texts(self, texts: list[str], exact: bool = True) -> np.ndarray:
        """Probabilities for each text read as a single window (cut at the useful length), by
        default exactly: explanations compare texts that differ by one word."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return self.window_probabilities(ids, exact=exact)

    def describe(self) -> str:
        return self.method
