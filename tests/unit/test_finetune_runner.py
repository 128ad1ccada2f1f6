"""The job process on tiny models: kill -9 and resume, Stop, NaN, two-process DDP, OOM retry, full disk."""
import functools
import io
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.finetune_helpers import read_lines, sentiment_rows, tiny_chat_model, tiny_encoder, write_csv


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(tiny_encoder(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture
def data(tmp_path):
    return (write_csv(tmp_path / "train.csv", sentiment_rows(240)),
            write_csv(tmp_path / "eval.csv", sentiment_rows(20, seed=1)))


def start_cli(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "desktop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, start_new_session=True)


def read_until(process, event_name):
    seen = []
    for line in process.stdout:
        events = read_lines(line)
        seen.extend(events)
        if events and events[0].get("event") == event_name:
            return seen
    raise AssertionError(f"no {event_name} event; stderr: {process.stderr.read()[-2000:]}")


def job_events(job_id):
    from models.home import jobs_dir

    return read_lines((jobs_dir() / job_id / "events.jsonl").read_text(encoding="utf-8"))


def test_kill_9_then_resume_finishes_with_the_same_steps(cli, tiny_bert, data):
    train, held = data
    process = start_cli("finetune", "classifier", "--train", str(train), "--eval", str(held), "--base", tiny_bert,
                        "--batch-size", "8", "--epochs", "2", "--save-steps", "5", "--eval-steps", "30",
                        "--patience", "0")
    seen = read_until(process, "checkpoint")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    start = next(e for e in seen if e["event"] == "start")
    assert start["total_steps"] == 60 and not any(e["event"] == "done" for e in seen)

    result = cli("finetune", "--resume", start["job_id"])
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["status"] == "completed" and final["steps"] == final["total_steps"] == 60
    starts = [e for e in job_events(start["job_id"]) if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from_step"] >= 5 and starts[1]["total_steps"] == 60
    listing = cli("jobs", "list", "--json")
    assert json.loads(listing.stdout)[0]["status"] == "completed"


def test_stop_saves_a_checkpoint_and_ends_as_stopped(cli, tiny_bert, data):
    train, held = data
    process = start_cli("finetune", "classifier", "--train", str(train), "--eval", str(held), "--base", tiny_bert,
                        "--batch-size", "2", "--epochs", "5")
    seen = read_until(process, "step")
    job_id = next(e for e in seen if e["event"] == "start")["job_id"]
    stopped = cli("jobs", "stop", job_id)
    assert stopped.returncode == 0 and "stopping" in stopped.stdout
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 3
    done = read_lines(out)[-1]
    assert done["status"] == "stopped" and done["step"] < 600
    from models.finetune.runner import latest_checkpoint
    from models.home import jobs_dir

    assert latest_checkpoint(jobs_dir() / job_id).name == f"step-{done['step']}"
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert shown["status"] == "stopped"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cli, tiny_bert, data):
    train, held = data
    result = cli("finetune", "classifier", "--train", str(train), "--eval", str(held), "--base", tiny_bert,
                 "--lr", "1e9", "--save-steps", "1", "--batch-size", "8")
    assert result.returncode == 1
    events = read_lines(result.stdout)
    done = next(e for e in events if e.get("event") == "done")
    assert done["status"] == "failed" and "Lower the learning rate" in done["message"]
    losses = [e["loss"] for e in events if e.get("event") == "step"]
    assert losses and not isinstance(losses[-1], float)  # "nan" / "inf" as text: JSON has no NaN
    bad_step = [e for e in events if e.get("event") == "step"][-1]["step"]
    from models.finetune.runner import checkpoints
    from models.home import jobs_dir

    kept = checkpoints(jobs_dir() / done["job_id"])
    assert kept and all(int(p.name[5:]) < bad_step for p in kept)
    assert "last good checkpoint" in done["message"]


def test_two_process_ddp_on_cpu(cli, tiny_bert, data):
    train, held = data
    result = cli("finetune", "classifier", "--train", str(train), "--eval", str(held), "--base", tiny_bert,
                 "--device", "cpu", "--processes", "2", "--batch-size", "8", "--epochs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    events = read_lines(result.stdout)
    start = next(e for e in events if e.get("event") == "start")
    assert start["processes"] == 2 and start["total_steps"] == 15  # 240 rows / (8 x 2 processes)
    final = events[-1]
    assert final["status"] == "completed" and final["steps"] == 15 and final["model"]
    assert len([e for e in events if e.get("event") == "start"]) == 1  # only the main process speaks


def _prepared_job(tmp_path, tiny_bert, **overrides):
    from models.finetune import prepare_job

    job_dir = tmp_path / "jobs" / "job"
    prepare_job(job_dir, "classifier", sentiment_rows(64), base=tiny_bert, device="cpu",
                overrides={"batch_size": 8, "epochs": 1, "save_steps": 2, **overrides})
    return job_dir


def test_out_of_memory_halves_the_batch_and_retries(tmp_path, tiny_bert, monkeypatch):
    import torch
    from transformers import BertForSequenceClassification

    from models.finetune.runner import run_job

    original = BertForSequenceClassification.forward

    @functools.wraps(original)  # the Trainer reads the signature to find the labels
    def forward(self, input_ids=None, **kwargs):
        if input_ids is not None and input_ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(BertForSequenceClassification, "forward", forward)
    job_dir = _prepared_job(tmp_path, tiny_bert)
    stream = io.StringIO()
    assert run_job(job_dir, stream=stream) == 0
    events = read_lines(stream.getvalue())
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("batch size 4" in w for w in warnings) and any("batch size 2" in w for w in warnings)
    config = json.loads((job_dir / "config.json").read_text())
    assert config["hyperparameters"]["batch_size"]["value"] == 2
    assert config["hyperparameters"]["gradient_accumulation"]["value"] == 4
    done = events[-1]
    assert done["status"] == "completed" and done["metrics"]["total_steps"] == 7  # 56 rows / 8 per update


def test_a_full_disk_stops_without_a_half_written_checkpoint(tmp_path, tiny_bert, monkeypatch):
    from collections import namedtuple

    from models.finetune import runner

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1024))
    job_dir = _prepared_job(tmp_path, tiny_bert)
    stream = io.StringIO()
    assert runner.run_job(job_dir, stream=stream) == 1
    done = read_lines(stream.getvalue())[-1]
    assert done["status"] == "failed" and "disk is full" in done["message"]
    assert runner.checkpoints(job_dir) == []
    assert not any((job_dir / "checkpoints" / ".partial").glob("checkpoint-*"))


@pytest.mark.parametrize("model", ["encoder", "chat"])
def test_continued_pretraining_on_documents(tmp_path, tiny_bert, model):
    from models.finetune import prepare_job
    from models.finetune.runner import run_job
    from models.registry import Registry

    base = tiny_bert if model == "encoder" else str(tiny_chat_model(tmp_path / "chat"))
    rows = [{"text": f"Otter note {i}: otters hold hands while they sleep in the river. " * 6} for i in range(12)]
    job_dir = tmp_path / "jobs" / "pre"
    config, plan = prepare_job(job_dir, "pretrain", rows, base=base, device="cpu", overrides={"epochs": 1},
                               output_name=f"otters-{model}")
    assert plan.objective == ("masked-lm" if model == "encoder" else "causal-lm")
    stream = io.StringIO()
    assert run_job(job_dir, stream=stream) == 0, stream.getvalue()[-2000:]
    done = read_lines(stream.getvalue())[-1]
    assert done["metrics"]["perplexity"] > 1
    entry = Registry().get(f"otters-{model}")
    assert entry.kind == model and entry.provenance["objective"] == plan.objective


def test_bad_input_is_refused_before_starting(tmp_path, tiny_bert, data, capsys):
    from desktop.cli import main

    train, held = data
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = main(["finetune", "classifier", "--train", str(train), "--base", tiny_bert,
                 "--output-dir", str(blocker / "out")])
    assert code == 2 and "cannot write into the output folder" in capsys.readouterr().err
    code = main(["finetune", "classifier", "--train", str(train), "--base", "missing-model"])
    assert code == 2 and "no base model named 'missing-model'" in capsys.readouterr().err
    single = write_csv(tmp_path / "single.csv", [{"text": "a", "label": "x"}] * 10)
    assert main(["finetune", "classifier", "--train", str(single), "--base", tiny_bert]) == 2
    assert "single label" in capsys.readouterr().err
    from models.home import jobs_dir

    assert list(jobs_dir().iterdir()) == []  # nothing left behind


def test_progress_bar_on_a_terminal(tmp_path):
    from models.finetune.events import EventWriter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    writer = EventWriter(tmp_path / "events.jsonl", screen)
    writer.emit("start", total_steps=10, epochs=1, device="cpu")
    writer.emit("step", step=5, total_steps=10, loss=0.5, examples_per_s=3.0, elapsed_s=5, eta_s=5)
    writer.close()
    assert "[###############..............." in screen.getvalue() and "5/10" in screen.getvalue()
    assert [e["event"] for e in read_lines((tmp_path / "events.jsonl").read_text())] == ["start", "step"]
