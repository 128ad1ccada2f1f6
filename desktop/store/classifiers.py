"""Classifiers, their labels and examples, the documents they read and the results they gave.

Plain functions over the Database (no Qt). Other features use list_classifiers,
classifier_examples, add_example and classifier_spec; the rest serves the Classify page and CLI.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from desktop.store.db import Database

METHODS = ("zero-shot", "few-shot", "fine-tuned")
EXAMPLE_SOURCES = ("correction", "example")
MAX_STORED_CHARS = 200_000  # classification reads far less; the rest of a huge text is not kept
DEFAULT_CLASSIFIER = "News topics"
DEFAULT_LABELS = {
    "World": "international news: politics, governments, elections, wars and diplomacy",
    "Sports": "sports: games, matches, teams, athletes and competitions",
    "Business": "business and economy: companies, markets, money, trade and jobs",
    "Sci/Tech": "science and technology: research, computers, software, the internet and space",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- classifiers -------------------------------------------------------------------------------
def _clean_labels(labels, descriptions) -> list[tuple[str, str]]:
    names = [str(label).strip() for label in labels]
    if any(not name for name in names):
        raise ValueError("a label cannot be empty")
    if len(set(names)) != len(names):
        raise ValueError("each label must appear once")
    if len(names) < 2:
        raise ValueError("a classifier needs at least two labels")
    if isinstance(descriptions, dict):
        texts = [str(descriptions.get(name) or "").strip() for name in names]
    else:
        texts = [str(d or "").strip() for d in (descriptions or [])] + [""] * len(names)
    return list(zip(names, texts))


def create_classifier(db: Database, name: str, labels, descriptions=None, encoder: str | None = None) -> int:
    name = name.strip()
    if not name:
        raise ValueError("a classifier needs a name")
    pairs = _clean_labels(labels, descriptions)
    with db.transaction():
        if db.one("SELECT 1 FROM classifiers WHERE name = ?", (name,)):
            raise ValueError(f"a classifier named {name!r} already exists")
        now = _now()
        cursor = db.execute(
            "INSERT INTO classifiers(name, encoder, created, updated) VALUES(?, ?, ?, ?)", (name, encoder, now, now)
        )
        classifier_id = cursor.lastrowid
        _write_labels(db, classifier_id, pairs)
    return classifier_id


def _write_labels(db: Database, classifier_id: int, pairs: list[tuple[str, str]]) -> None:
    db.execute("DELETE FROM classifier_labels WHERE classifier_id = ?", (classifier_id,))
    for position, (label, description) in enumerate(pairs):
        db.execute(
            "INSERT INTO classifier_labels(classifier_id, name, description, position) VALUES(?, ?, ?, ?)",
            (classifier_id, label, description, position),
        )


def set_labels(db: Database, classifier_id: int, labels, descriptions=None) -> None:
    """Replace the labels. Examples of removed labels stay stored but are no longer used."""
    pairs = _clean_labels(labels, descriptions)
    with db.transaction():
        _write_labels(db, classifier_id, pairs)
        db.execute("UPDATE classifiers SET updated = ? WHERE id = ?", (_now(), classifier_id))


def ensure_default_classifier(db: Database) -> int:
    """The first classifier a new user sees, so that dropping documents works at once."""
    row = db.one("SELECT id FROM classifiers ORDER BY id LIMIT 1")
    if row:
        return row["id"]
    return create_classifier(db, DEFAULT_CLASSIFIER, list(DEFAULT_LABELS), DEFAULT_LABELS)


def _labels(db: Database, classifier_id: int) -> list[dict]:
    rows = db.query(
        "SELECT name, description FROM classifier_labels WHERE classifier_id = ? ORDER BY position", (classifier_id,)
    )
    return [{"name": r["name"], "description": r["description"]} for r in rows]


def _as_dict(db: Database, row) -> dict:
    labels = _labels(db, row["id"])
    counts = db.one(
        "SELECT COUNT(*) AS n, SUM(source = 'correction') AS corrections FROM classify_examples WHERE classifier_id = ?",
        (row["id"],),
    )
    return {
        "id": row["id"], "name": row["name"], "method": row["method"],
        "labels": [label["name"] for label in labels],
        "descriptions": {label["name"]: label["description"] for label in labels},
        "model": row["model"] if row["method"] == "fine-tuned" else row["encoder"],
        "encoder": row["encoder"], "fine_tuned_model": row["model"],
        "accuracy": row["accuracy"], "accuracy_folds": row["accuracy_folds"],
        "trained_examples": row["trained_examples"], "trained": row["trained"],
        "examples": counts["n"], "corrections": counts["corrections"] or 0,
        "created": row["created"], "updated": row["updated"],
    }


def list_classifiers(db: Database) -> list[dict]:
    """Every classifier: id, name, labels, method, model (plus counts and training figures)."""
    return [_as_dict(db, row) for row in db.query("SELECT * FROM classifiers ORDER BY name COLLATE NOCASE")]


def get_classifier(db: Database, classifier_id: int) -> dict | None:
    row = db.one("SELECT * FROM classifiers WHERE id = ?", (classifier_id,))
    return _as_dict(db, row) if row else None


def find_classifier(db: Database, name: str) -> dict | None:
    row = db.one("SELECT * FROM classifiers WHERE name = ?", (name,))
    return _as_dict(db, row) if row else None


def rename_classifier(db: Database, classifier_id: int, name: str) -> None:
    name = name.strip()
    if not name:
        raise ValueError("a classifier needs a name")
    other = db.one("SELECT id FROM classifiers WHERE name = ?", (name,))
    if other and other["id"] != classifier_id:
        raise ValueError(f"a classifier named {name!r} already exists")
    db.execute("UPDATE classifiers SET name = ?, updated = ? WHERE id = ?", (name, _now(), classifier_id))


def delete_classifier(db: Database, classifier_id: int) -> None:
    with db.transaction():
        db.execute("DELETE FROM classifiers WHERE id = ?", (classifier_id,))
        db.execute("DELETE FROM classify_documents WHERE id NOT IN (SELECT document_id FROM classify_results)")


def set_method(db: Database, classifier_id: int, method: str, model: str | None = None) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "fine-tuned" and not model:
        raise ValueError("the fine-tuned method needs a classifier model")
    with db.transaction():
        if method == "fine-tuned":
            db.execute("UPDATE classifiers SET method = ?, model = ?, updated = ? WHERE id = ?",
                       (method, model, _now(), classifier_id))
        else:
            db.execute("UPDATE classifiers SET method = ?, updated = ? WHERE id = ?", (method, _now(), classifier_id))


def record_training(db: Database, classifier_id: int, accuracy: float | None, folds: int, examples: int) -> None:
    """Few-shot was trained: remember its estimated accuracy and make it the classifier's method."""
    now = _now()
    db.execute(
        "UPDATE classifiers SET method = 'few-shot', accuracy = ?, accuracy_folds = ?, trained_examples = ?,"
        " trained = ?, updated = ? WHERE id = ?",
        (accuracy, folds, examples, now, now, classifier_id),
    )


# -- examples ----------------------------------------------------------------------------------
def classifier_examples(db: Database, classifier_id: int) -> list[dict]:
    """Labelled texts of a classifier, oldest first: text, label, source ('correction'|'example')."""
    rows = db.query(
        "SELECT id, text, label, source, document_id, created FROM classify_examples WHERE classifier_id = ?"
        " ORDER BY id", (classifier_id,),
    )
    return [dict(r) for r in rows]


def add_example(db: Database, classifier_id: int, text: str, label: str, source: str = "example",
                document_id: int | None = None) -> int:
    """Store a labelled text. A document has at most one example per classifier: a new label replaces it."""
    if source not in EXAMPLE_SOURCES:
        raise ValueError(f"unknown example source {source!r}; choose one of {', '.join(EXAMPLE_SOURCES)}")
    if not str(text).strip():
        raise ValueError("an example needs some text")
    with db.transaction():
        if document_id is not None:
            row = db.one("SELECT id FROM classify_examples WHERE classifier_id = ? AND document_id = ?",
                         (classifier_id, document_id))
            if row:
                db.execute("UPDATE classify_examples SET label = ?, source = ?, text = ?, created = ? WHERE id = ?",
                           (label, source, text, _now(), row["id"]))
                return row["id"]
        cursor = db.execute(
            "INSERT INTO classify_examples(classifier_id, text, label, source, document_id, created)"
            " VALUES(?, ?, ?, ?, ?, ?)", (classifier_id, text, label, source, document_id, _now()),
        )
        return cursor.lastrowid


def remove_example(db: Database, example_id: int) -> None:
    db.execute("DELETE FROM classify_examples WHERE id = ?", (example_id,))


def classifier_spec(db: Database, name: str) -> dict:
    """What models.classify.build_classifier needs: labels, descriptions, method, examples, model.
    Raises LookupError for an unknown name."""
    classifier = find_classifier(db, name)
    if classifier is None:
        raise LookupError(f"no classifier named {name!r}")
    return spec_of(db, classifier)


def spec_of(db: Database, classifier: dict) -> dict:
    labels = set(classifier["labels"])
    examples = [
        {"text": e["text"], "label": e["label"], "source": e["source"]}
        for e in classifier_examples(db, classifier["id"]) if e["label"] in labels
    ]
    return {
        "id": classifier["id"], "name": classifier["name"], "labels": list(classifier["labels"]),
        "descriptions": dict(classifier["descriptions"]), "method": classifier["method"],
        "examples": examples, "model": classifier["model"],
    }


# -- documents and results ---------------------------------------------------------------------
def save_document(db: Database, source: str, name: str, text: str | None = None, row_key: str = "",
                  format: str | None = None, size_bytes: int | None = None, error: str | None = None) -> int:
    """Insert or refresh a document (a file, or a table row when row_key is set); returns its id."""
    text = text[:MAX_STORED_CHARS] if text else text
    with db.transaction():
        row = db.one("SELECT id FROM classify_documents WHERE source = ? AND row_key = ?", (source, row_key))
        if row:
            db.execute("UPDATE classify_documents SET name = ?, format = ?, text = ?, size_bytes = ?, error = ?"
                       " WHERE id = ?", (name, format, text, size_bytes, error, row["id"]))
            return row["id"]
        return db.execute(
            "INSERT INTO classify_documents(source, row_key, name, format, text, size_bytes, error, added)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", (source, row_key, name, format, text, size_bytes, error, _now()),
        ).lastrowid


def move_document(db: Database, document_id: int, new_path: str) -> None:
    """The file was moved (sorted into a folder): remember where it is now."""
    db.execute("UPDATE OR IGNORE classify_documents SET source = ? WHERE id = ?", (new_path, document_id))


def document_text(db: Database, document_id: int) -> str | None:
    row = db.one("SELECT text FROM classify_documents WHERE id = ?", (document_id,))
    return row["text"] if row else None


def save_result(db: Database, classifier_id: int, document_id: int, prediction: dict | None = None,
                method: str | None = None, error: str | None = None) -> None:
    """Store a prediction (Prediction.to_dict()) or an error for a document. A correction the user
    made earlier is kept."""
    now = _now()
    if prediction is None:
        values = ("error", None, None, None, None, None, None, None, None, method, error or "failed")
    else:
        scores = prediction["scores"]
        others = sorted(((s, l) for l, s in scores.items() if l != prediction["label"]), reverse=True)
        span = prediction.get("evidence_span") or (None, None)
        values = ("done", prediction["label"], prediction["score"], json.dumps(scores),
                  others[0][1] if others else None, others[0][0] if others else None,
                  span[0], span[1], prediction.get("windows", 1), method, None)
    db.execute(
        "INSERT INTO classify_results(classifier_id, document_id, status, label, score, scores_json, runner_up,"
        " runner_up_score, evidence_start, evidence_end, windows, method, error, updated)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(classifier_id, document_id) DO UPDATE SET status = excluded.status, label = excluded.label,"
        " score = excluded.score, scores_json = excluded.scores_json, runner_up = excluded.runner_up,"
        " runner_up_score = excluded.runner_up_score, evidence_start = excluded.evidence_start,"
        " evidence_end = excluded.evidence_end, windows = excluded.windows, method = excluded.method,"
        " error = excluded.error, updated = excluded.updated",
        (classifier_id, document_id, *values, now),
    )


RESULT_COLUMNS = (
    "r.id AS result_id, r.document_id, r.status, r.label, r.score, r.scores_json, r.runner_up, r.runner_up_score,"
    " r.evidence_start, r.evidence_end, r.windows, r.method, r.error, r.corrected_label, r.updated,"
    " d.source, d.row_key, d.name, d.format, d.size_bytes"
)


def _result_dict(row) -> dict:
    result = dict(row)
    result["scores"] = json.loads(result.pop("scores_json") or "{}")
    return result


def results(db: Database, classifier_id: int, since_id: int = 0) -> list[dict]:
    """Results of a classifier (those with result id > since_id), in the order they were made."""
    rows = db.query(
        f"SELECT {RESULT_COLUMNS} FROM classify_results r JOIN classify_documents d ON d.id = r.document_id"
        " WHERE r.classifier_id = ? AND r.id > ? ORDER BY r.id", (classifier_id, since_id),
    )
    return [_result_dict(r) for r in rows]


def results_for_documents(db: Database, classifier_id: int, document_ids: list[int]) -> list[dict]:
    found = []
    for start in range(0, len(document_ids), 500):
        chunk = document_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found += db.query(
            f"SELECT {RESULT_COLUMNS} FROM classify_results r JOIN classify_documents d ON d.id = r.document_id"
            f" WHERE r.classifier_id = ? AND r.document_id IN ({marks})", (classifier_id, *chunk),
        )
    return [_result_dict(r) for r in found]


def documents_to_rescore(db: Database, classifier_id: int) -> list[dict]:
    """Documents of a classifier that have text: id and text, for scoring again after training."""
    rows = db.query(
        "SELECT d.id, d.text FROM classify_results r JOIN classify_documents d ON d.id = r.document_id"
        " WHERE r.classifier_id = ? AND d.text IS NOT NULL AND d.error IS NULL ORDER BY r.id", (classifier_id,),
    )
    return [dict(r) for r in rows]


def correct_result(db: Database, classifier_id: int, document_id: int, label: str) -> None:
    """The user says the document's label is `label`: keep it on the result and learn from it."""
    text = document_text(db, document_id)
    with db.transaction():
        db.execute("UPDATE classify_results SET corrected_label = ?, updated = ? WHERE classifier_id = ?"
                   " AND document_id = ?", (label, _now(), classifier_id, document_id))
        if text:
            add_example(db, classifier_id, text, label, "correction", document_id=document_id)


def clear_results(db: Database, classifier_id: int) -> None:
    with db.transaction():
        db.execute("DELETE FROM classify_results WHERE classifier_id = ?", (classifier_id,))
        db.execute("DELETE FROM classify_documents WHERE id NOT IN (SELECT document_id FROM classify_results)"
                   " AND id NOT IN (SELECT document_id FROM classify_examples WHERE document_id IS NOT NULL)")
