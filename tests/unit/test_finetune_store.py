"""The jobs table: create, update, list, and settling rows whose process is gone."""
import json
import os

import pytest

from desktop.store import Database
from desktop.store import jobs


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "fireside.db")
    yield database
    database.close()


def test_create_update_get_list(db, tmp_path):
    job = jobs.create_job(db, "20260101-000000-abcd", "classifier", tmp_path / "job", base_model="enc",
                          dataset_id=3, snapshot_hash="f" * 64, model_name="m", config={"a": 1})
    assert job["status"] == "queued" and job["config"] == {"a": 1} and job["dataset_id"] == 3
    jobs.update_job(db, job["id"], status="completed", metrics={"accuracy": 0.9})
    assert jobs.get_job(db, "20260101-000000")["metrics"] == {"accuracy": 0.9}  # a unique prefix finds it
    jobs.create_job(db, "20260102-000000-beef", "chat", tmp_path / "job2")
    assert [j["id"] for j in jobs.list_jobs(db)] == ["20260102-000000-beef", "20260101-000000-abcd"]
    assert [j["id"] for j in jobs.list_jobs(db, dataset_id=3)] == ["20260101-000000-abcd"]
    with pytest.raises(ValueError, match="status"):
        jobs.update_job(db, job["id"], status="exploded")


def test_a_dead_running_job_is_settled_from_its_events(db, tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    job = jobs.create_job(db, "j1", "classifier", folder)
    job = jobs.update_job(db, "j1", status="running", pid=2**22 + 12345, started="2000-01-01T00:00:00+00:00")
    assert jobs.refresh_job(db, job)["status"] == "interrupted"

    jobs.update_job(db, "j1", status="running", pid=2**22 + 12345)
    (folder / "events.jsonl").write_text(json.dumps(
        {"event": "done", "time": 4e9, "status": "completed", "message": "ok", "metrics": {"accuracy": 1.0},
         "model": "m1"}) + "\n")
    settled = jobs.refresh_job(db, jobs.get_job(db, "j1"))
    assert settled["status"] == "completed" and settled["model_name"] == "m1" and settled["pid"] is None


def test_a_live_job_stays_running(db, tmp_path):
    jobs.create_job(db, "j2", "chat", tmp_path)
    job = jobs.update_job(db, "j2", status="running", pid=os.getpid())
    assert jobs.refresh_job(db, job)["status"] == "running"


def test_record_event(db, tmp_path):
    jobs.create_job(db, "j3", "chat", tmp_path)
    jobs.record_event(db, "j3", {"event": "start", "pid": 42})
    assert jobs.get_job(db, "j3")["status"] == "running" and jobs.get_job(db, "j3")["pid"] == 42
    jobs.record_event(db, "j3", {"event": "done", "status": "stopped", "message": "stopped at step 3"})
    job = jobs.get_job(db, "j3")
    assert job["status"] == "stopped" and job["message"] == "stopped at step 3" and job["finished"]
