"""What a job can learn from: stored datasets, a classifier's examples and corrections, a file, a folder.

The stored datasets and classifiers come from their own store modules when this build has them;
without them the page still trains from a CSV/JSONL file or a folder of documents.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TASKS = ("chat", "classifier", "pretrain")
TASK_TITLES = {
    "chat": "Chat model, from a chat dataset",
    "classifier": "Classifier, from labelled examples",
    "pretrain": "Teach a model your documents",
}
# Which dataset kind each task reads.
DATASET_KIND = {"chat": "chat", "classifier": "classification", "pretrain": None}
# Which registered models each task can start from.
BASE_KINDS = {"chat": ("chat",), "classifier": ("encoder", "classifier"), "pretrain": ("chat", "encoder")}


@dataclass(frozen=True)
class DataSource:
    """One entry of the data picker. `kind`: 'dataset', 'classifier', 'file' or 'folder'."""

    kind: str
    ref: str  # dataset name, classifier id, or a path
    title: str
    rows: int | None = None

    @property
    def path(self) -> Path | None:
        return Path(self.ref) if self.kind in ("file", "folder") else None


def store_module(name: str):
    try:
        return importlib.import_module(f"desktop.store.{name}")
    except ImportError:
        return None


def list_datasets(db, kind: str | None) -> list[dict]:
    """Stored datasets of `kind` ('chat' / 'classification'), or none when this build has no datasets."""
    module = store_module("datasets")
    if module is None:
        return []
    try:
        if hasattr(module, "list_datasets"):
            datasets = [dict(row) for row in module.list_datasets(db)]
        else:
            datasets = [dict(row) for row in db.query("SELECT * FROM datasets ORDER BY name")]
    except Exception:  # the datasets store may be older or newer than this page: list nothing
        log.exception("could not list datasets")
        return []
    return [d for d in datasets if kind is None or d.get("kind") == kind]


def list_classifiers(db) -> list[dict]:
    module = store_module("classifiers")
    if module is None or not hasattr(module, "list_classifiers"):
        return []
    try:
        return [dict(row) for row in module.list_classifiers(db)]
    except Exception:
        log.exception("could not list classifiers")
        return []


def sources_for(db, task: str) -> list[DataSource]:
    """The stored data a task can train on (files and folders are added by the user's choice)."""
    sources = []
    kind = DATASET_KIND.get(task)
    if task != "pretrain":
        for dataset in list_datasets(db, kind):
            rows = dataset.get("rows") or dataset.get("row_count")
            sources.append(DataSource("dataset", dataset["name"], f"Dataset: {dataset['name']}", rows))
    if task == "classifier":
        for classifier in list_classifiers(db):
            sources.append(DataSource("classifier", str(classifier["id"]),
                                      f"Classifier: {classifier['name']} (its examples and corrections)"))
    if task == "pretrain":
        for dataset in list_datasets(db, None):
            sources.append(DataSource("dataset", dataset["name"], f"Texts of dataset: {dataset['name']}"))
    return sources


def classifier_rows(db, classifier_id: str) -> list[dict]:
    """A classifier's labelled examples and corrections as classification rows."""
    module = store_module("classifiers")
    if module is None:
        return []
    return [{"text": row["text"], "label": row["label"]} for row in module.classifier_examples(db, int(classifier_id))]


def dataset_rows(db, name: str) -> tuple[dict, list[dict], list[dict] | None]:
    """(dataset, training rows, validation rows or None): a split dataset keeps its own split."""
    module = store_module("datasets")
    if module is None:
        raise ValueError("this build of Fireside has no stored datasets; choose a file instead")
    dataset = module.get_dataset(db, name)
    if dataset is None:
        raise ValueError(f"no dataset named {name!r}")
    dataset = dict(dataset)
    counts = module.split_counts(db, dataset["id"]) if hasattr(module, "split_counts") else {}
    if counts.get("train") and counts.get("validation") and not counts.get("unsplit"):
        return (dataset, list(module.iter_rows(db, dataset["id"], "train")),
                list(module.iter_rows(db, dataset["id"], "validation")))
    return dataset, list(module.iter_rows(db, dataset["id"])), None


def freeze_dataset(db, dataset_id: int, note: str) -> str | None:
    """Record the dataset as it is now as one of its versions; its sha256 (None without a datasets store)."""
    module = store_module("datasets")
    if module is None or not hasattr(module, "freeze_version"):
        return None
    return module.freeze_version(db, dataset_id, note=note)["snapshot_hash"]
