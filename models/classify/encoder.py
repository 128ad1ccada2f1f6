"""A BERT-style encoder as a sentence embedder: mean pooling over tokens, then unit length.

Speed comes from length-sorted batches, `torch.inference_mode`, int8 or half precision
(precision.py), and cutting inputs at the length the model was trained on.
"""
from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from models.classify.batching import pad, sorted_batches
from models.classify.precision import choose_precision, prepare_for_inference
from models.classify.prediction import RunControl

DEFAULT_MAX_LENGTH = 256
CACHE_SIZE = 20_000


def useful_length(path: Path, tokenizer, config) -> int:
    """The longest input worth feeding: sentence-transformers' max_seq_length, else the model's limit."""
    sbert = Path(path) / "sentence_bert_config.json"
    if sbert.exists():
        try:
            return int(json.loads(sbert.read_text(encoding="utf-8"))["max_seq_length"])
        except (ValueError, KeyError, TypeError):
            pass
    limits = [DEFAULT_MAX_LENGTH, getattr(config, "max_position_embeddings", DEFAULT_MAX_LENGTH)]
    if isinstance(getattr(tokenizer, "model_max_length", None), int):
        limits.append(tokenizer.model_max_length)
    return min(limits)


def mean_pool(hidden, mask):
    """Average of the token vectors a mask keeps, scaled to unit length."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed.float() / weights.sum(dim=1).float().clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


class Encoder:
    """One loaded encoder. Safe to share between threads: inference holds no state."""

    def __init__(self, model, tokenizer, name: str = "", device: str = "cpu", precision: str = "fp32",
                 max_length: int = DEFAULT_MAX_LENGTH, path: str = ""):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.precision = precision
        self.max_length = max_length
        self.path = path
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        # Int8 activations are quantized per batch, so a vector moves a little with its batch-mates.
        # The few texts every score is measured against (label prompts) are embedded exactly.
        self.exact_model = model

    @classmethod
    def load(cls, path: Path, name: str = "", device: str | None = None, precision: str = "auto") -> "Encoder":
        from models.devices import pick_device
        from models.loading import load_encoder

        device = device or pick_device()
        model, tokenizer = load_encoder(Path(path), device="cpu")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # mean pooling reads the token vectors; the [CLS] head would be wasted work
        max_length = useful_length(path, tokenizer, model.config)
        exact = copy.deepcopy(model) if choose_precision(device, precision) == "int8" else None
        model, precision = prepare_for_inference(model, device, precision)
        encoder = cls(model, tokenizer, name=name or Path(path).name, device=device, precision=precision,
                      max_length=max_length, path=str(path))
        if precision == "int8" and exact is not None:
            encoder.exact_model = exact.eval()
        return encoder

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Input ids with special tokens, cut at the model's useful length."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    def embed_ids(self, sequences: list[list[int]], control: RunControl | None = None,
                  model=None) -> np.ndarray:
        """Unit vectors (len(sequences), dim) for ready-made input id lists."""
        import torch

        model = model or self.model
        result = np.zeros((len(sequences), self.dim), dtype=np.float32)
        lengths = [len(s) for s in sequences]
        with torch.inference_mode():
            for batch in sorted_batches(lengths):
                if control is not None:
                    control.check()
                ids, mask = pad([sequences[i] for i in batch], self.pad_id)
                ids, mask = ids.to(self.device), mask.to(self.device)
                hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
                result[batch] = mean_pool(hidden, mask).cpu().numpy()
                if control is not None:
                    control.advance(len(batch), len(sequences))
        return result

    def embed_exact(self, texts: list[str]) -> np.ndarray:
        """Unit vectors from the unquantized model: for reference texts such as label prompts."""
        return self.embed_ids(self.token_ids(list(texts)), model=self.exact_model)

    def embed(self, texts: list[str], control: RunControl | None = None) -> np.ndarray:
        """Unit vectors for texts (each cut at the useful length); repeated texts come from a cache."""
        texts = list(texts)
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for index, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(index)
                else:
                    self._cache.move_to_end(text)
                    result[index] = cached
        if missing:
            unique = list(missing)
            vectors = self.embed_ids(self.token_ids(unique), control)
            with self._lock:
                for text, vector in zip(unique, vectors):
                    result[missing[text]] = vector
                    self._cache[text] = vector
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return result


_loaded: dict[tuple, Encoder] = {}
_loading = threading.Lock()


def shared_encoder(path: Path, name: str = "", device: str | None = None, precision: str = "auto") -> Encoder:
    """The encoder at path, loaded once per process and shared (the page, the CLI, the local API)."""
    key = (str(Path(path).resolve()), device, precision)
    with _loading:
        encoder = _loaded.get(key)
        if encoder is None:
            encoder = _loaded[key] = Encoder.load(Path(path), name=name, device=device, precision=precision)
        return encoder
