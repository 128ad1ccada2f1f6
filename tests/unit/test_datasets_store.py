"""The datasets store on a real SQLite file: round trips, whole-or-nothing imports, versions."""
import io
import json
import sqlite3

import pytest

from desktop.datasets.operations import export_dataset, import_parsed, plan_cleaning, read_source
from desktop.store import Database
from desktop.store import datasets as store
from models.datasets.errors import DatasetError
from models.datasets.rows import RowError

CHAT_ROWS = [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"},
                  {"role": "assistant", "content": "Paris."}]},
    {"messages": [{"role": "user", "content": "Quote: \"a, b\"\nnew line é 日本"},
                  {"role": "assistant", "content": "ok,\tdone"}]},
]
MULTI_TURN = {"messages": [{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"},
                           {"role": "user", "content": "3"}, {"role": "assistant", "content": "4"}]}
CLASS_ROWS = [{"text": "Great phone, \"love\" it", "label": "positive"}, {"text": "Broke after\na day", "label": "negative"},
              {"text": "Café, naïve, 日本", "label": "neutral"}]


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "fireside.db")
    yield database
    database.close()


def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def source_files(tmp_path):
    """One file per import format, with the rows each should give."""
    sharegpt = [{"system": "Be brief.", "conversations": [{"from": "human", "value": "Capital of France?"},
                                                          {"from": "gpt", "value": "Paris."}]}]
    alpaca = [{"instruction": "Capital of France?", "input": "", "output": "Paris.", "system": "Be brief."}]
    csv_path = tmp_path / "class.csv"
    csv_path.write_text('text,label\n"Great phone, ""love"" it",positive\n"Broke after\na day",negative\n'
                        '"Café, naïve, 日本",neutral\n', encoding="utf-8")
    tsv_path = tmp_path / "pairs.tsv"
    tsv_path.write_text("prompt\tresponse\nCapital of France?\tParis.\n", encoding="utf-8")
    folder = tmp_path / "folder"
    for row in CLASS_ROWS:
        (folder / row["label"]).mkdir(parents=True)
        (folder / row["label"] / "a.txt").write_text(row["text"], encoding="utf-8")
    return {
        "openai": (_write(tmp_path / "openai.jsonl", CHAT_ROWS + [MULTI_TURN]), CHAT_ROWS + [MULTI_TURN]),
        "sharegpt": (_write(tmp_path / "sharegpt.jsonl", sharegpt), CHAT_ROWS[:1]),
        "alpaca": (_write(tmp_path / "alpaca.json", alpaca), CHAT_ROWS[:1]),
        "classification": (_write(tmp_path / "class.jsonl", CLASS_ROWS), CLASS_ROWS),
        "csv": (csv_path, CLASS_ROWS),
        "tsv": (tsv_path, [{"messages": CHAT_ROWS[0]["messages"][1:]}]),
        "folder": (folder, sorted(CLASS_ROWS, key=lambda r: r["label"])),
    }


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca", "classification", "csv", "tsv", "folder"])
def test_round_trip_import_export_reimport(db, tmp_path, fmt):
    path, expected = source_files(tmp_path)[fmt]
    parsed = read_source(path)
    assert parsed.format == fmt and not parsed.bad_lines
    first = import_parsed(db, parsed, f"{fmt} original")
    assert list(store.iter_rows(db, first["id"])) == expected
    for export_format in ("jsonl", "csv", "tsv"):
        out = tmp_path / f"export-{fmt}.{export_format}"
        with open(out, "w", encoding="utf-8", newline="") as handle:
            assert export_dataset(db, first["id"], export_format, handle) == len(expected)
        again = import_parsed(db, read_source(out), f"{fmt} via {export_format}")
        assert again["kind"] == first["kind"]
        assert list(store.iter_rows(db, again["id"])) == expected, export_format


def test_malformed_import_writes_nothing(db, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"\n{"text": "c", "label": "y"}\n{"nope": 1}\n')
    parsed = read_source(path)
    assert [b.number for b in parsed.bad_lines] == [2, 4]
    with pytest.raises(DatasetError, match=r"2 malformed lines: line 2: .*line 4: .*Nothing was written"):
        import_parsed(db, parsed, "bad")
    assert store.list_datasets(db) == []
    dataset = import_parsed(db, parsed, "bad", skip_bad_lines=True)
    assert dataset["row_count"] == 2


def test_an_import_lands_whole_or_not_at_all(db):
    store.import_rows(db, "reviews", "classification", CLASS_ROWS)
    with pytest.raises(RowError):
        store.import_rows(db, "reviews", "classification", CLASS_ROWS + [{"text": "no label"}])
    with pytest.raises(RowError):
        store.import_rows(db, "fresh", "classification", [{"text": "x", "label": "y"}, {"messages": []}])
    assert [d["name"] for d in store.list_datasets(db)] == ["reviews"]
    assert store.get_dataset(db, "reviews")["row_count"] == 3
    with pytest.raises(DatasetError, match="holds classification rows; these are chat rows"):
        store.import_rows(db, "reviews", "chat", CHAT_ROWS)


def test_rows_are_searched_edited_added_and_deleted(db):
    dataset = store.import_rows(db, "reviews", "classification", CLASS_ROWS)
    ids = store.row_ids(db, dataset["id"])
    assert store.row_ids(db, dataset["id"], "PHONE") == ids[:1]   # case-insensitive
    assert store.row_ids(db, dataset["id"], "negat") == ids[1:2]  # labels are searched too
    assert store.row_ids(db, dataset["id"], "100%") == []         # % is a character, not a wildcard
    store.update_row(db, ids[0], {"text": "Edited", "label": "neutral"})
    assert store.get_row(db, ids[0])["row"] == {"text": "Edited", "label": "neutral"}
    assert store.label_counts(db, dataset["id"]) == {"neutral": 2, "negative": 1}
    new_id = store.add_row(db, dataset["id"], {"text": "Added", "label": "positive"})
    assert store.delete_rows(db, [ids[1], new_id]) == 2
    assert [r["row"]["text"] for r in store.rows_by_ids(db, store.row_ids(db, dataset["id"]))] == [
        "Edited", "Café, naïve, 日本"]
    with pytest.raises(RowError):
        store.update_row(db, ids[0], {"text": "no label"})


def test_cleaning_is_applied_in_one_transaction(db):
    rows = [{"text": "Mail me: a@b.com", "label": "x"}, {"text": "same", "label": "x"}, {"text": "same", "label": "x"}]
    dataset = store.import_rows(db, "d", "classification", rows)
    plan = plan_cleaning(db, dataset["id"], "duplicates")
    assert store.apply_plan(db, dataset["id"], plan) == (1, 0)
    plan = plan_cleaning(db, dataset["id"], "pii")
    assert store.apply_plan(db, dataset["id"], plan) == (0, 1)
    assert list(store.iter_rows(db, dataset["id"])) == [{"text": "Mail me: [EMAIL]", "label": "x"},
                                                       {"text": "same", "label": "x"}]
    assert store.row_ids(db, dataset["id"], "[EMAIL]")  # the search text follows the edit


def test_split_is_stored_and_rows_are_read_per_split(db):
    rows = [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(40)]
    dataset = store.import_rows(db, "d", "classification", rows)
    assert store.split_dataset(db, dataset["id"], 0.25, seed=1) == {"train": 30, "validation": 10}
    assert store.split_counts(db, dataset["id"]) == {"train": 30, "validation": 10}
    assert store.split_label_counts(db, dataset["id"])["validation"] == {"a": 5, "b": 5}
    validation = list(store.iter_rows(db, dataset["id"], "validation"))
    assert len(validation) == 10 and all(r in rows for r in validation)
    store.split_dataset(db, dataset["id"], 0.25, seed=1)
    assert list(store.iter_rows(db, dataset["id"], "validation")) == validation


def _insert_job(db, **values):
    """A jobs row with the columns the contract names, whatever else the jobs schema requires."""
    try:
        columns = db.query("PRAGMA table_info(jobs)")
    except sqlite3.OperationalError:
        columns = []
    if not columns:
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT, status TEXT, base_model TEXT, dataset_id INTEGER, "
                   "snapshot_hash TEXT, model_name TEXT, config_json TEXT, metrics_json TEXT, pid INTEGER, job_dir TEXT, "
                   "created TEXT, started TEXT, finished TEXT)")
        columns = db.query("PRAGMA table_info(jobs)")
    row = {}
    for column in columns:
        name = column["name"]
        if name in values:
            row[name] = values[name]
        elif column["notnull"] and column["dflt_value"] is None:
            row[name] = 0 if "INT" in (column["type"] or "").upper() else ("{}" if name.endswith("json") else "x")
    if "kind" in row and "kind" not in values:
        row["kind"] = "chat"
    names = ", ".join(row)
    db.execute(f"INSERT INTO jobs ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def test_snapshots_versions_and_the_models_trained_from_them(db, tmp_path):
    dataset = store.import_rows(db, "chat data", "chat", CHAT_ROWS)
    sha, path, count = store.snapshot_dataset(db, dataset["id"], tmp_path / "job1" / "data")
    assert (path.name, count) == ("dataset.jsonl", 2)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == CHAT_ROWS
    # Before any job exists (or without a jobs table), versions still list.
    versions = store.dataset_versions(db, dataset["id"])
    assert [(v["snapshot_hash"], v["row_count"], v["jobs"]) for v in versions] == [(sha, 2, [])]
    # The same rows give the same hash and one version; an edit gives a new one.
    assert store.snapshot_dataset(db, dataset["id"], tmp_path / "job2")[0] == sha
    store.add_row(db, dataset["id"], MULTI_TURN)
    frozen = store.freeze_version(db, dataset["id"], note="after adding")
    assert frozen["snapshot_hash"] != sha and frozen["path"].exists() and frozen["row_count"] == 3

    _insert_job(db, id="job-1", status="completed", dataset_id=dataset["id"], snapshot_hash=sha,
                model_name="my-chat-v1", created="2030-01-01T00:00:00+00:00")
    _insert_job(db, id="job-2", status="running", dataset_id=dataset["id"], snapshot_hash="f" * 64,
                model_name="my-chat-v2", created="2030-01-02T00:00:00+00:00")
    versions = {v["snapshot_hash"]: v for v in store.dataset_versions(db, dataset["id"])}
    assert [(j["id"], j["model_name"], j["status"]) for j in versions[sha]["jobs"]] == [
        ("job-1", "my-chat-v1", "completed")]
    assert versions[frozen["snapshot_hash"]]["jobs"] == []
    assert versions["f" * 64]["row_count"] is None and versions["f" * 64]["jobs"][0]["model_name"] == "my-chat-v2"


def test_versions_degrade_when_there_is_no_jobs_table(db):
    dataset = store.import_rows(db, "d", "classification", CLASS_ROWS)
    store.record_version(db, dataset["id"], "a" * 64, 3)
    try:
        db.execute("ALTER TABLE jobs RENAME TO jobs_elsewhere")
    except sqlite3.OperationalError:
        pass  # no jobs table in this schema at all
    assert [v["row_count"] for v in store.dataset_versions(db, dataset["id"])] == [3]


def test_contract_functions(db):
    assert store.get_dataset(db, "nope") is None
    dataset = store.import_rows(db, "c", "chat", CHAT_ROWS)
    found = store.get_dataset(db, "c")
    assert {"id", "name", "kind"} <= set(found) and found["kind"] == "chat" and found["id"] == dataset["id"]
    assert list(store.iter_rows(db, found["id"])) == CHAT_ROWS
    with pytest.raises(DatasetError, match="no dataset named 'x'"):
        store.require_dataset(db, "x")
    with pytest.raises(DatasetError, match="already exists"):
        store.create_dataset(db, " c ", "chat")
    store.delete_dataset(db, dataset["id"])
    assert db.one("SELECT COUNT(*) FROM dataset_rows")[0] == 0


def test_export_writes_openai_jsonl_for_chat(db):
    dataset = store.import_rows(db, "c", "chat", CHAT_ROWS)
    buffer = io.StringIO()
    export_dataset(db, dataset["id"], "jsonl", buffer)
    first = json.loads(buffer.getvalue().splitlines()[0])
    assert first == {"messages": CHAT_ROWS[0]["messages"]}
    with pytest.raises(DatasetError, match="unknown export format"):
        export_dataset(db, dataset["id"], "xml", buffer)
