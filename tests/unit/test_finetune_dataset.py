"""`fireside finetune --dataset NAME`: rows from the datasets store, the snapshot recorded as a version."""
import json

from tests.finetune_helpers import read_lines, sentiment_rows, tiny_encoder


def test_a_stored_dataset_trains_and_lists_the_job_under_its_version(cli, tmp_path):
    from desktop.store import datasets, jobs, open_database

    db = open_database()
    dataset = datasets.import_rows(db, "moods", "classification", sentiment_rows(80))
    datasets.split_dataset(db, dataset["id"], 0.25, seed=0)
    base = tiny_encoder(tmp_path / "tiny")
    result = cli("finetune", "classifier", "--dataset", "moods", "--base", str(base), "--epochs", "1",
                 "--output", "moods-model")
    assert result.returncode == 0, result.stderr[-3000:]
    start = next(e for e in read_lines(result.stdout) if e.get("event") == "start")
    assert start["train_rows"] == 60 and start["eval_rows"] == 20  # the dataset's own split
    final = json.loads(result.stdout.strip().splitlines()[-1])
    job = jobs.get_job(db, final["job_id"])
    assert job["dataset_id"] == dataset["id"] and job["status"] == "completed"
    versions = datasets.dataset_versions(db, dataset["id"])
    trained = [v for v in versions if v["snapshot_hash"] == job["snapshot_hash"]]
    assert trained and trained[0]["jobs"][0]["model_name"] == "moods-model"
    assert job["config"]["data"]["source"]["dataset"] == "moods"


def test_a_dataset_of_the_wrong_kind_is_refused(cli):
    from desktop.store import datasets, open_database

    db = open_database()
    datasets.import_rows(db, "talk", "chat", [{"messages": [{"role": "user", "content": "hi"},
                                                            {"role": "assistant", "content": "hello"}]}])
    result = cli("finetune", "classifier", "--dataset", "talk")
    assert result.returncode == 1 and "needs a classification dataset" in result.stderr
    result = cli("finetune", "classifier", "--dataset", "nothing-here")
    assert result.returncode == 1 and "no dataset named 'nothing-here'" in result.stderr
