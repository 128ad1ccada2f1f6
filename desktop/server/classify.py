"""POST /v1/classify (Fireside's own endpoint): texts in, a label and scores for each out.

Either a classifier saved in Fireside (by name, `classifier`, or `model` when no labels are
given), a fine-tuned classifier model from the registry, or ad-hoc `labels` for zero-shot
classification with an encoder (`model`, the default encoder if left out). The classifier is
built with models.classify.build_classifier from the spec desktop.store.classifiers keeps.
GET /v1/classifiers lists the saved classifiers.
"""
from __future__ import annotations

import asyncio
import hashlib
import json

from fastapi import APIRouter, Request

from desktop.server.errors import APIError
from desktop.server.schemas import ClassifyRequest
from models.errors import ModelError

router = APIRouter()


def _classify_parts():
    """(classifier_spec, list_classifiers, build_classifier), imported when first asked for."""
    from desktop.store.classifiers import classifier_spec, list_classifiers
    from models.classify import build_classifier

    return classifier_spec, list_classifiers, build_classifier


def _saved_spec(state, name: str, classifier_spec) -> dict | None:
    if state.db is None:
        return None
    try:
        return classifier_spec(state.db, name)
    except (KeyError, LookupError, ValueError):
        return None


def resolve_spec(state, body: ClassifyRequest, classifier_spec) -> dict:
    if body.labels is not None:
        encoder = body.model or state.registry.default("encoder").name
        state.pool.resolve(encoder, ("encoder",), "zero-shot classification")
        return {"name": "zero-shot", "labels": list(body.labels), "descriptions": body.descriptions or {},
                "method": "zero-shot", "examples": [], "model": encoder}
    name = body.classifier or body.model
    spec = _saved_spec(state, name, classifier_spec)
    if spec is not None:
        return spec
    try:
        entry = state.registry.get(name)
    except ModelError:
        entry = None
    if entry is not None and entry.kind == "classifier":
        return {"name": entry.name, "labels": list(entry.labels), "descriptions": {}, "method": "fine-tuned",
                "examples": [], "model": entry.name}
    raise APIError(404, f"There is no classifier named '{name}'; GET /v1/classifiers lists them.",
                   code="classifier_not_found", param="classifier")


def _token_counts(state, spec: dict, texts: list[str]) -> int:
    """Tokens read, counted with the tokenizer of the classifier's model (the default encoder if unknown)."""
    try:
        entry = state.registry.get(spec.get("model") or "")
        if entry.kind == "chat":
            raise ModelError("not an encoder")
    except ModelError:
        entry = state.registry.default("encoder")

    def load():
        from models.loading import load_tokenizer

        return load_tokenizer(state.registry.local_path(entry))

    tokenizer = state.pool.loaded(f"tokenizer:{entry.name}", load)
    return sum(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])


@router.post("/v1/classify")
async def classify(body: ClassifyRequest, request: Request):
    state = request.app.state.fireside
    classifier_spec, _, build_classifier = _classify_parts()
    spec = resolve_spec(state, body, classifier_spec)
    name = spec.get("name") or body.classifier or body.model
    request.state.model = name
    texts = body.texts
    fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def work():
        classifier = state.pool.loaded(f"classifier:{name}:{fingerprint}",
                                       lambda: build_classifier(spec, state.registry))
        return classifier.predict(texts), _token_counts(state, spec, texts)

    try:
        predictions, tokens = await asyncio.wrap_future(state.pool.submit(f"classify:{name}", work))
    except ModelError as exc:
        raise APIError(500, str(exc), code="model_unavailable") from exc
    except ValueError as exc:  # a classifier refuses a spec it cannot use (no examples, one label ...)
        raise APIError(400, str(exc), code="invalid_classifier") from exc
    request.state.prompt_tokens = tokens
    request.state.outcome = f"{len(texts)} labelled"
    return {
        "object": "list",
        "model": name,
        "method": spec.get("method"),
        "labels": list(spec.get("labels") or []),
        "data": [
            {"object": "classification", "index": i, "label": p.label, "score": float(p.score),
             "scores": {k: float(v) for k, v in p.scores.items()}, "evidence": p.evidence}
            for i, p in enumerate(predictions)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@router.get("/v1/classifiers")
async def classifiers(request: Request):
    state = request.app.state.fireside
    _, list_classifiers, _ = _classify_parts()
    saved = list_classifiers(state.db) if state.db is not None else []
    data = [{"id": c["name"], "object": "classifier", "labels": list(c["labels"]), "method": c["method"],
             "model": c.get("model")} for c in saved]
    names = {c["id"] for c in data}
    for entry in state.registry.list("classifier"):
        if entry.name not in names:
            data.append({"id": entry.name, "object": "classifier", "labels": entry.labels, "method": "fine-tuned",
                         "model": entry.name})
    return {"object": "list", "data": data}
