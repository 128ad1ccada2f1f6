"""Train / validation split: seeded, and stratified by label so each label keeps its share."""
from __future__ import annotations

import random
from collections import defaultdict

from models.datasets.errors import DatasetError


def split_ids(items: list[tuple[int, str | None]], validation_fraction: float, seed: int = 0
              ) -> tuple[list[int], list[int]]:
    """(train ids, validation ids) from (row id, label or None) pairs.

    Each label's rows are shuffled with the seed and the fraction of them goes to validation
    (at least one when the label has two rows or more, never all of them). The same rows, fraction
    and seed always give the same split.
    """
    if not 0 < validation_fraction < 1:
        raise DatasetError("the validation share must be between 0 and 1 (for example 0.1)")
    groups: dict[str, list[int]] = defaultdict(list)
    for row_id, label in items:
        groups["" if label is None else label].append(row_id)
    rng = random.Random(seed)
    train, validation = [], []
    for label in sorted(groups):
        ids = sorted(groups[label])
        rng.shuffle(ids)
        count = round(len(ids) * validation_fraction)
        if len(ids) >= 2:
            count = min(max(count, 1), len(ids) - 1)
        else:
            count = 0
        validation += ids[:count]
        train += ids[count:]
    return sorted(train), sorted(validation)
