"""Classifiers, labels, documents, results and examples in the real SQLite file."""
import pytest

from desktop.store import open_database
from desktop.store import classifiers as store


@pytest.fixture
def db(fireside_home):
    database = open_database()
    yield database
    database.close()


def test_create_list_and_spec(db):
    classifier_id = store.create_classifier(db, "Tickets", ["Bug", "Question", "Praise"],
                                            {"Bug": "something is broken"})
    listed = store.list_classifiers(db)
    assert [(c["id"], c["name"], c["labels"], c["method"], c["model"]) for c in listed] == [
        (classifier_id, "Tickets", ["Bug", "Question", "Praise"], "zero-shot", None)]
    store.add_example(db, classifier_id, "It crashes on start", "Bug", "example")
    store.add_example(db, classifier_id, "An old label's text", "Removed label", "example")
    spec = store.classifier_spec(db, "Tickets")
    assert spec["labels"] == ["Bug", "Question", "Praise"] and spec["method"] == "zero-shot"
    assert spec["descriptions"] == {"Bug": "something is broken", "Question": "", "Praise": ""}
    assert spec["examples"] == [{"text": "It crashes on start", "label": "Bug", "source": "example"}]
    assert spec["model"] is None
    with pytest.raises(LookupError):
        store.classifier_spec(db, "Nope")
    with pytest.raises(ValueError, match="already exists"):
        store.create_classifier(db, "Tickets", ["a", "b"])
    with pytest.raises(ValueError, match="at least two labels"):
        store.create_classifier(db, "One", ["a"])
    with pytest.raises(ValueError, match="once"):
        store.create_classifier(db, "Twice", ["a", "a"])


def test_examples_contract_and_sources(db):
    classifier_id = store.create_classifier(db, "C", ["A", "B"])
    store.add_example(db, classifier_id, "first", "A", "example")
    store.add_example(db, classifier_id, "second", "B", "correction")
    assert [(e["text"], e["label"], e["source"]) for e in store.classifier_examples(db, classifier_id)] == [
        ("first", "A", "example"), ("second", "B", "correction")]
    with pytest.raises(ValueError, match="unknown example source"):
        store.add_example(db, classifier_id, "x", "A", "guess")
    with pytest.raises(ValueError, match="needs some text"):
        store.add_example(db, classifier_id, "  ", "A", "example")


def test_results_corrections_and_restarts(db, fireside_home):
    classifier_id = store.create_classifier(db, "C", ["A", "B"])
    doc = store.save_document(db, "/docs/a.txt", "a.txt", text="alpha text", format="text", size_bytes=10)
    bad = store.save_document(db, "/docs/b.pdf", "b.pdf", error="is not a readable PDF")
    prediction = {"label": "A", "score": 0.8, "scores": {"A": 0.8, "B": 0.2}, "evidence_span": [0, 10], "windows": 1}
    store.save_result(db, classifier_id, doc, prediction, method="zero-shot")
    store.save_result(db, classifier_id, bad, None, method="zero-shot", error="is not a readable PDF")
    rows = store.results(db, classifier_id)
    assert [(r["name"], r["status"], r["label"], r["runner_up"], r["error"]) for r in rows] == [
        ("a.txt", "done", "A", "B", None), ("b.pdf", "error", None, None, "is not a readable PDF")]
    assert rows[0]["scores"] == {"A": 0.8, "B": 0.2} and rows[0]["evidence_start"] == 0

    store.correct_result(db, classifier_id, doc, "B")
    store.correct_result(db, classifier_id, doc, "A")  # changing one's mind replaces the example
    examples = store.classifier_examples(db, classifier_id)
    assert [(e["text"], e["label"], e["source"], e["document_id"]) for e in examples] == [
        ("alpha text", "A", "correction", doc)]
    # a new prediction keeps the user's correction
    store.save_result(db, classifier_id, doc, dict(prediction, label="B", score=0.6, scores={"A": 0.4, "B": 0.6}))
    db.close()

    reopened = open_database()
    row = store.results_for_documents(reopened, classifier_id, [doc])[0]
    assert (row["label"], row["corrected_label"], row["score"]) == ("B", "A", 0.6)
    assert store.get_classifier(reopened, classifier_id)["corrections"] == 1
    assert store.documents_to_rescore(reopened, classifier_id) == [{"id": doc, "text": "alpha text"}]
    store.record_training(reopened, classifier_id, 0.9, 5, 12)
    trained = store.get_classifier(reopened, classifier_id)
    assert (trained["method"], trained["accuracy"], trained["trained_examples"]) == ("few-shot", 0.9, 12)
    store.clear_results(reopened, classifier_id)
    assert store.results(reopened, classifier_id) == []
    assert store.classifier_examples(reopened, classifier_id)  # examples survive clearing the table
    store.delete_classifier(reopened, classifier_id)
    assert store.list_classifiers(reopened) == []
    assert reopened.one("SELECT COUNT(*) AS n FROM classify_examples")["n"] == 0
    reopened.close()


def test_methods_labels_and_default(db):
    first = store.ensure_default_classifier(db)
    assert store.ensure_default_classifier(db) == first
    default = store.get_classifier(db, first)
    assert default["labels"] == ["World", "Sports", "Business", "Sci/Tech"]
    assert all(default["descriptions"].values())
    store.set_method(db, first, "fine-tuned", "my-model")
    assert store.list_classifiers(db)[0]["model"] == "my-model"
    with pytest.raises(ValueError):
        store.set_method(db, first, "fine-tuned")
    with pytest.raises(ValueError):
        store.set_method(db, first, "psychic")
    store.set_labels(db, first, ["Yes", "No"], ["agrees", "disagrees"])
    assert store.get_classifier(db, first)["descriptions"] == {"Yes": "agrees", "No": "disagrees"}
    store.rename_classifier(db, first, "Answers")
    assert store.find_classifier(db, "Answers")["id"] == first
    doc = store.save_document(db, "/a/x.txt", "x.txt", text="t")
    store.move_document(db, doc, "/b/Yes/x.txt")
    assert db.one("SELECT source FROM classify_documents WHERE id = ?", (doc,))["source"] == "/b/Yes/x.txt"
