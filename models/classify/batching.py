"""Length-sorted batches: texts of similar length go together, so almost nothing is padding."""
from __future__ import annotations

from typing import Iterator


def sorted_batches(lengths: list[int], max_tokens: int = 8192, max_batch: int = 64) -> Iterator[list[int]]:
    """Index lists, shortest sequences first, each batch within max_tokens once padded."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for index in order:
        longest = lengths[index]  # sorted ascending: the newest is the longest of its batch
        if batch and (len(batch) >= max_batch or longest * (len(batch) + 1) > max_tokens):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def pad(sequences: list[list[int]], pad_id: int):
    """(input_ids, attention_mask) tensors, right-padded to the longest sequence."""
    import torch

    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids, mask
