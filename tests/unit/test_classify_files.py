"""Export to CSV/JSONL and sorting files into label folders (copy, move, never overwrite)."""
import csv
import json

from desktop.classify.export import export_results
from desktop.classify.sorting import SortItem, folder_name, sort_into_folders


def _result(name, label, score, corrected=None, status="done", row_key=""):
    return {"name": name, "source": f"/docs/{name}", "row_key": row_key, "label": label, "score": score,
            "scores": {"A": score, "B": 1 - score} if score is not None else {}, "runner_up": "B" if label else None,
            "runner_up_score": 1 - score if score is not None else None, "corrected_label": corrected,
            "status": status, "error": None if status == "done" else "is empty"}


def test_export_csv_and_jsonl(tmp_path):
    results = [_result("a.txt", "A", 0.75), _result("b.txt", "A", 0.6, corrected="B"),
               _result("c.txt", None, None, status="error")]
    assert export_results(tmp_path / "out.csv", results, ["A", "B"]) == 3
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert [(r["document"], r["label"], r["predicted_label"], r["score"], r["corrected"]) for r in rows] == [
        ("a.txt", "A", "A", "0.7500", "False"), ("b.txt", "B", "A", "0.6000", "True"), ("c.txt", "", "", "", "False")]
    assert rows[0]["score:B"] == "0.2500" and rows[2]["error"] == "is empty"
    assert export_results(tmp_path / "out.jsonl", results, ["A", "B"]) == 3
    lines = [json.loads(line) for line in open(tmp_path / "out.jsonl", encoding="utf-8")]
    assert lines[1]["label"] == "B" and lines[1]["scores"] == {"A": 0.6, "B": 0.4}


def test_copy_never_overwrites_and_reports(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.txt").write_text("first")
    (source / "b.txt").write_text("second")
    target = tmp_path / "out"
    (target / "Sci-Tech").mkdir(parents=True)
    (target / "Sci-Tech" / "a.txt").write_text("already here")
    items = [SortItem(1, str(source / "a.txt"), "Sci/Tech"), SortItem(2, str(source / "b.txt"), "Sports"),
             SortItem(3, str(source / "table.csv"), "Sports", is_file=False), SortItem(4, str(source / "c.txt"), None),
             SortItem(5, str(source / "gone.txt"), "Sports")]
    report = sort_into_folders(items, target)
    assert (target / "Sci-Tech" / "a.txt").read_text() == "already here"
    assert (target / "Sci-Tech" / "a (2).txt").read_text() == "first"
    assert (target / "Sports" / "b.txt").read_text() == "second"
    assert (source / "a.txt").exists() and (source / "b.txt").exists()  # copies leave the originals
    assert report.renamed == 1 and report.skipped_rows == 1 and report.skipped_unlabelled == 1
    assert report.failed == ["gone.txt: no longer exists"]
    assert report.text().startswith("Copied 2 files into 2 folders under ")
    assert "1 renamed" in report.text() and "1 table row skipped" in report.text()


def test_move_takes_files_out(tmp_path):
    (tmp_path / "x.md").write_text("moving")
    report = sort_into_folders([SortItem(9, str(tmp_path / "x.md"), "World")], tmp_path / "sorted", move=True)
    assert not (tmp_path / "x.md").exists()
    assert (tmp_path / "sorted" / "World" / "x.md").read_text() == "moving"
    assert report.done == [(9, str(tmp_path / "x.md"), str(tmp_path / "sorted" / "World" / "x.md"))]
    assert folder_name('a<b>:c"d/e\\f|g?h') == "a-b-c-d-e-f-g-h"
    assert folder_name("Sci/Tech") == "Sci-Tech" and folder_name("...") == "unnamed"
