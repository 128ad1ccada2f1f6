"""The page's background work: classify dropped paths, retrain and re-score, explain one document.

These functions run in desktop.background workers. They touch no widget: results go to the
database, and the ids of the documents just stored go into a queue the page drains on the GUI
thread whenever progress is reported.
"""
from __future__ import annotations

import hashlib
import json
import threading
from queue import SimpleQueue

from desktop.format import human_duration
from desktop.store import Database
from desktop.store import classifiers as store


class ClassifierCache:
    """Built classifiers by what their spec says, so that the encoder loads and few-shot trains once."""

    def __init__(self, registry):
        self.registry = registry
        self._built: dict[str, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(spec: dict) -> str:
        relevant = {k: spec.get(k) for k in ("labels", "descriptions", "method", "examples", "model")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, spec: dict, control=None):
        from models.classify import build_classifier

        key = self.fingerprint(spec)
        with self._lock:
            classifier = self._built.get(key)
            if classifier is None:
                classifier = build_classifier(spec, self.registry, control=control)
                self._built = {key: classifier}  # keep only the latest: a model is large
            return classifier


def _progress_text(progress) -> str:
    text = f"{progress.done:,} of {progress.total:,} documents"
    if progress.eta_s is not None:
        text += f" · about {human_duration(progress.eta_s)} left"
    return text


def _spec(db: Database, classifier_id: int, method: str | None = None) -> dict:
    classifier = store.get_classifier(db, classifier_id)
    if classifier is None:
        raise ValueError("the classifier was deleted")
    spec = store.spec_of(db, classifier)
    if method:
        spec["method"] = method
        if method != "fine-tuned":
            spec["model"] = classifier["encoder"]
    return spec


def _load(cache: ClassifierCache, spec: dict, op):
    op.progress(0.0, "Loading the classifier (the first time takes a few seconds)…")
    return cache.get(spec)


def _save_outcomes(db: Database, classifier_id: int, method: str, outcomes, finished: SimpleQueue) -> None:
    ids = []
    with db.transaction():
        for outcome in outcomes:
            source = outcome.source
            document_id = source.document_id
            if document_id is None:
                document_id = store.save_document(
                    db, source.path, source.name, text=outcome.text, row_key=source.row_key, format=outcome.format,
                    size_bytes=outcome.size_bytes, error=outcome.error,
                )
            prediction = outcome.prediction.to_dict() if outcome.prediction is not None else None
            store.save_result(db, classifier_id, document_id, prediction, method=method, error=outcome.error)
            ids.append(document_id)
    finished.put(ids)


def classify_paths(db: Database, cache: ClassifierCache, classifier_id: int, paths: list[str],
                   table_columns: dict[str, str], finished: SimpleQueue, op):
    """Find, read and classify everything under `paths`; every document ends as a stored result."""
    from models.classify.pipeline import RunSummary, classify_sources, sources_from_paths

    op.progress(0.0, "Looking for documents…")
    sources, failed, found = sources_from_paths(paths, columns_by_path=table_columns, cancelled=op.cancelled)
    if op.cancelled():
        return RunSummary(cancelled=True, found=found)
    spec = _spec(db, classifier_id)
    if failed:
        _save_outcomes(db, classifier_id, spec["method"], failed, finished)
    classifier = _load(cache, spec, op)

    def progressed(progress) -> None:
        op.progress(progress.fraction, _progress_text(progress))

    summary = classify_sources(
        classifier, sources, lambda outcomes: _save_outcomes(db, classifier_id, spec["method"], outcomes, finished),
        progressed, op.cancelled,
    )
    summary.found = found
    summary.failed += len(failed)
    summary.total += len(failed)
    return summary


def rescore(db: Database, cache: ClassifierCache, classifier_id: int, finished: SimpleQueue, op, classifier=None):
    """Classify the classifier's documents again from their stored text."""
    from models.classify.pipeline import Source, classify_sources

    spec = _spec(db, classifier_id)
    classifier = classifier or _load(cache, spec, op)
    documents = store.documents_to_rescore(db, classifier_id)
    sources = [Source(path="", name="", text=d["text"], document_id=d["id"]) for d in documents]
    return classify_sources(
        classifier, sources, lambda outcomes: _save_outcomes(db, classifier_id, spec["method"], outcomes, finished),
        lambda progress: op.progress(progress.fraction, "Scoring again: " + _progress_text(progress)), op.cancelled,
    )


def retrain(db: Database, cache: ClassifierCache, classifier_id: int, finished: SimpleQueue, op):
    """Train few-shot on the classifier's examples, make it the method, and re-score its documents."""
    spec = _spec(db, classifier_id, method="few-shot")
    op.progress(0.0, f"Training on {len(spec['examples']):,} examples…")
    classifier = cache.get(spec)
    store.record_training(db, classifier_id, classifier.accuracy, classifier.folds, classifier.example_count)
    summary = rescore(db, cache, classifier_id, finished, op, classifier=classifier)
    return classifier.describe(), summary


def explain_document(cache: ClassifierCache, spec: dict, document_id: int, text: str, label: str):
    """(document id, Explanation) of `label` over `text` (the evidence window)."""
    from models.classify import explain

    classifier = cache.get(spec)
    if label not in classifier.labels:
        label = None
    return document_id, explain(classifier, text, label)


def sort_files(db: Database, items, target, move: bool, op):
    from desktop.classify.sorting import sort_into_folders

    report = sort_into_folders(items, target, move=move, progress=op.progress, cancelled=op.cancelled)
    if move:
        with db.transaction():
            for document_id, _, destination in report.done:
                store.move_document(db, document_id, destination)
    return report
