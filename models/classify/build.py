"""build_classifier(spec, registry): the classifier a stored (or ad-hoc) spec describes.

A spec is a plain dict, as desktop.store.classifiers.classifier_spec returns it:
    {"name", "labels": [...], "descriptions": {label: text} or [...], "method":
     "zero-shot" | "few-shot" | "fine-tuned", "examples": [{"text", "label", ...}], "model": name or None}
For zero- and few-shot, `model` names the encoder (None: the default encoder); for fine-tuned,
the registry entry of kind 'classifier'.
"""
from __future__ import annotations

from models.classify.encoder import shared_encoder
from models.classify.few_shot import FewShotClassifier
from models.classify.fine_tuned import shared_fine_tuned
from models.classify.zero_shot import ZeroShotClassifier
from models.errors import ModelError

METHODS = ("zero-shot", "few-shot", "fine-tuned")


def encoder_for(model: str | None, registry):
    entry = registry.get(model) if model else registry.default("encoder")
    if entry.kind == "chat":
        raise ModelError(f"{entry.name} is a chat model; zero- and few-shot need an encoder")
    return shared_encoder(registry.local_path(entry), name=entry.name)


def build_classifier(spec: dict, registry, control=None):
    method = spec.get("method") or "zero-shot"
    labels = list(spec.get("labels") or [])
    descriptions = spec.get("descriptions") or {}
    if method == "fine-tuned":
        if not spec.get("model"):
            raise ValueError("a fine-tuned classifier needs the name of its model")
        entry = registry.get(spec["model"])
        if entry.kind != "classifier":
            raise ModelError(f"{entry.name} is a {entry.kind} model, not a fine-tuned classifier")
        classifier = shared_fine_tuned(registry.local_path(entry), entry.name, entry.labels or None)
        if labels and set(labels) != set(classifier.labels):
            raise ValueError(f"{entry.name} knows the labels {', '.join(classifier.labels)}, "
                             f"not {', '.join(labels)}")
        return classifier
    encoder = encoder_for(spec.get("model"), registry)
    if method == "few-shot":
        return FewShotClassifier(encoder, labels, spec.get("examples") or [], descriptions, control=control)
    if method == "zero-shot":
        classifier = ZeroShotClassifier(encoder, labels, descriptions)
        examples = spec.get("examples") or []
        if examples:
            classifier.calibrate([e["text"] for e in examples], [e["label"] for e in examples])
        return classifier
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
