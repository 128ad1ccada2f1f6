"""`fireside classify` with the installed default encoder on the labelled set the tests ship."""
import csv
import io
from pathlib import Path

from desktop.store import open_database
from desktop.store import classifiers as store
from tests.classify_files import make_mixed_folder

DATA = Path(__file__).resolve().parents[1] / "data" / "classify_topics.csv"
LABELS = "World,Sports,Business,Sci/Tech"
CHANCE = 0.25


def _gold() -> dict[str, str]:
    return {row["id"]: row["label"] for row in csv.DictReader(open(DATA, encoding="utf-8"))}


def _accuracy(stdout: str, gold: dict[str, str]) -> float:
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert rows and list(rows[0]) == ["id_or_path", "label", "score"]
    assert {r["id_or_path"] for r in rows} == set(gold)
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
    return sum(gold[r["id_or_path"]] == r["label"] for r in rows) / len(rows)


def test_zero_shot_on_the_shipped_set(cli):
    result = cli("classify", "--labels", LABELS, str(DATA), "--text-column", "text", "--id-column", "id")
    assert result.returncode == 0, result.stderr
    accuracy = _accuracy(result.stdout, _gold())
    print(f"\nzero-shot accuracy on {len(_gold())} shipped sentences: {accuracy:.1%} (chance {CHANCE:.0%})")
    assert accuracy >= 0.65
    assert "[100%] 80 of 80 documents" in result.stderr and "Classified 80 of 80 documents" in result.stderr


def test_few_shot_with_a_saved_classifier(cli, tmp_path, fireside_home):
    rows = list(csv.DictReader(open(DATA, encoding="utf-8")))
    train, test = rows[0::2], rows[1::2]
    db = open_database()
    classifier_id = store.create_classifier(db, "Topics", LABELS.split(","))
    for row in train:
        store.add_example(db, classifier_id, row["text"], row["label"], "example")
    store.set_method(db, classifier_id, "few-shot")
    db.close()
    held_out = tmp_path / "held-out.tsv"
    held_out.write_text("key\tsentence\n" + "".join(f"{r['id']}\t{r['text']}\n" for r in test), encoding="utf-8")

    result = cli("classify", "--classifier", "Topics", str(held_out), "--text-column", "sentence", "--id-column", "key")
    assert result.returncode == 0, result.stderr
    accuracy = _accuracy(result.stdout, {r["id"]: r["label"] for r in test})
    print(f"\nfew-shot accuracy on {len(test)} held-out sentences, trained on {len(train)}: {accuracy:.1%} "
          f"(chance {CHANCE:.0%})")
    assert accuracy >= 0.8
    assert "estimated accuracy" in result.stderr

    missing = cli("classify", "--classifier", "Nope", str(held_out))
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0
    assert "no classifier named 'Nope'" in missing.stderr


def test_files_with_examples_and_bad_input(cli, tmp_path):
    expected = make_mixed_folder(tmp_path / "docs")
    examples = tmp_path / "examples.csv"
    rows = list(csv.DictReader(open(DATA, encoding="utf-8")))
    with open(examples, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([r["text"], r["label"]] for r in rows)
    result = cli("classify", "--labels", LABELS, "--examples", str(examples), str(tmp_path / "docs"),
                 str(tmp_path / "missing.txt"))
    assert result.returncode == 0, result.stderr
    labelled = {Path(r["id_or_path"]).relative_to(tmp_path / "docs").as_posix(): r["label"]
                for r in csv.DictReader(io.StringIO(result.stdout))}
    good = {name: topic for name, topic in expected.items() if topic != "error"}
    assert set(labelled) == set(good)
    assert sum(labelled[n] == t for n, t in good.items()) >= 3
    for line in ("broken.pdf: is not a readable PDF", "photo.txt: is not a text file", "empty.txt: is empty",
                 "missing.txt: does not exist"):
        assert line in result.stderr, line
    assert "1 file of other types skipped" in result.stderr
