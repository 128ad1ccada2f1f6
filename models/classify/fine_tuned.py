"""Fine-tuned: a sequence classifier trained by Fireside's fine-tuning (a registry entry of kind
'classifier'), read through the same windows as the other two."""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np

from models.classify.base import WindowedClassifier, check_labels
from models.classify.batching import pad, sorted_batches
from models.classify.encoder import useful_length
from models.classify.precision import choose_precision, prepare_for_inference
from models.classify.prediction import RunControl
from models.errors import ModelError


def config_labels(config) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


class FineTunedClassifier(WindowedClassifier):
    method = "fine-tuned"

    def __init__(self, model, tokenizer, labels: list[str], name: str = "", device: str = "cpu",
                 precision: str = "fp32", max_length: int = 256):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = check_labels(labels)
        self.name = name
        self.device = device
        self.precision = precision
        self.max_length = max_length
        self.exact_model = model  # the unquantized model when `model` is int8

    @classmethod
    def load(cls, path: Path, name: str = "", labels: list[str] | None = None, device: str | None = None,
             precision: str = "auto") -> "FineTunedClassifier":
        from models.devices import pick_device
        from models.loading import load_sequence_classifier

        device = device or pick_device()
        model, tokenizer = load_sequence_classifier(Path(path), device="cpu")
        own = config_labels(model.config)
        if labels and own and len(labels) != len(own):
            raise ModelError(f"{name or path}: the model has {len(own)} labels, the registry lists {len(labels)}")
        max_length = useful_length(path, tokenizer, model.config)
        exact = copy.deepcopy(model) if choose_precision(device, precision) == "int8" else None
        model, precision = prepare_for_inference(model, device, precision)
        classifier = cls(model, tokenizer, labels or own, name=name or Path(path).name, device=device,
                         precision=precision, max_length=max_length)
        if precision == "int8" and exact is not None:
            classifier.exact_model = exact.eval()
        return classifier

    def window_probabilities(self, sequences, control: RunControl | None = None, exact: bool = False) -> np.ndarray:
        import torch

        model = self.exact_model if exact else self.model
        result = np.zeros((len(sequences), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for batch in sorted_batches([len(s) for s in sequences]):
                if control is not None:
                    control.check()
                ids, mask = pad([sequences[i] for i in batch], self.tokenizer.pad_token_id or 0)
                logits = model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                result[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                if control is not None:
                    control.advance(len(batch), len(sequences))
        return result

    def describe(self) -> str:
        return f"fine-tuned model {self.name}"


_loaded: dict[tuple, FineTunedClassifier] = {}
_loading = threading.Lock()


def shared_fine_tuned(path: Path, name: str, labels: list[str] | None) -> FineTunedClassifier:
    key = (str(Path(path).resolve()), tuple(labels or ()))
    with _loading:
        if key not in _loaded:
            _loaded[key] = FineTunedClassifier.load(Path(path), name=name, labels=labels)
        return _loaded[key]
