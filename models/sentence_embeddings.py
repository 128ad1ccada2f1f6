"""Sentence embeddings from a BERT-style encoder: mean pooling over real tokens, then L2 normalised.

This is how all-MiniLM-L6-v2 was trained to be used, and it works for any encoder folder (or the
encoder inside a fine-tuned sequence classifier). Texts longer than the model's window are
truncated; the token counts returned say how much of each text was read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.loading import load_encoder


@dataclass
class Embeddings:
    vectors: list[list[float]]
    token_counts: list[int]

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


class SentenceEncoder:
    """One loaded encoder. Safe to call from one thread at a time."""

    def __init__(self, model, tokenizer, name: str = "", device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        limits = [getattr(model.config, "max_position_embeddings", 512), getattr(tokenizer, "model_max_length", 512)]
        self.max_length = int(min(limit for limit in limits if isinstance(limit, int) and limit > 0))

    @classmethod
    def load(cls, path: Path, name: str = "", device: str = "cpu") -> "SentenceEncoder":
        model, tokenizer = load_encoder(path, device=device)
        return cls(model, tokenizer, name=name or Path(path).name, device=device)

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def count_tokens(self, texts: list[str]) -> list[int]:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: list[str], batch_size: int = 32) -> Embeddings:
        """Unit-length vectors for `texts`, in the order given (batched by length for speed)."""
        import torch

        texts = list(texts)
        vectors: list[list[float] | None] = [None] * len(texts)
        counts = [0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            encoded = self.tokenizer(
                [texts[i] for i in batch], padding=True, truncation=True, max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            normalised = torch.nn.functional.normalize(pooled.float(), p=2, dim=1).cpu()
            for row, index in enumerate(batch):
                vectors[index] = normalised[row].tolist()
                counts[index] = int(encoded["attention_mask"][row].sum())
        return Embeddings(vectors=vectors, token_counts=counts)  # type: ignore[arg-type]
