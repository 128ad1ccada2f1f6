"""The Fine-tune page without a running trainer: the event stream, the start form with real plans
and its one-click fixes, and how the page settles jobs it finds in the table on start."""
import csv
import json
import os
from pathlib import Path

from desktop.finetune.events import EventTail, JobState
from desktop.store import jobs

SHOTS = os.environ.get("FIRESIDE_SHOTS")


def shot(widget, name: str) -> None:
    """Save a screenshot when FIRESIDE_SHOTS names a folder (for looking at the page, not for checks)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_rows(n: int = 12) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        rows.append((f"the striker scored goal number {i}", "sport"))
        rows.append((f"simmer the sauce for {i} minutes", "cooking"))
    return rows


def step(n: int, loss: float) -> dict:
    return {"event": "step", "step": n, "total_steps": 10, "epoch": n / 5, "loss": loss, "lr": 1e-4 * n,
            "examples_per_s": 12.5, "elapsed_s": n * 2.0, "eta_s": (10 - n) * 2.0, "memory_mb": 800.0}


# -- the event stream ---------------------------------------------------------------------------------
def test_state_folds_a_stopped_and_resumed_run(tmp_path):
    events = [{"event": "start", "total_steps": 10, "epochs": 2, "device": "cpu"}]
    events += [step(n, 1.0 - n / 20) for n in range(1, 6)]
    events += [{"event": "eval", "step": 4, "eval_loss": 0.9, "accuracy": 0.75},
               {"event": "checkpoint", "step": 4, "path": "x"},
               {"event": "done", "status": "stopped", "message": "stopped at step 5", "metrics": {"step": 5}}]
    state = JobState().apply_all(events)
    assert state.status == "stopped" and state.step == 5 and state.fraction == 0.5
    # The resumed run starts again after checkpoint 4: step 5 is done again, not twice.
    state.apply_all([{"event": "start", "total_steps": 10, "resumed_from_step": 4}, step(5, 0.7), step(6, 0.65)])
    assert state.status is None
    assert state.train_steps == [1, 2, 3, 4, 5, 6]
    assert state.train_loss[4] == 0.7
    assert state.eval_steps == [4] and state.throughput == (12.5, "ex/s")


def test_tail_reads_only_whole_lines_and_notices_a_new_file(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read_new() == ([], False)
    with open(path, "w") as handle:
        handle.write(json.dumps(step(1, 0.5)) + "\n" + '{"event": "step", "st')
    events, restarted = tail.read_new()
    assert [e["step"] for e in events] == [1] and not restarted
    with open(path, "a") as handle:
        handle.write('ep": 2, "loss": 0.4}\nnot json\n')
    events, _ = tail.read_new()
    assert [e["step"] for e in events] == [2]
    path.write_text(json.dumps(step(1, 0.9)))  # replaced by a shorter file, last line unterminated
    events, restarted = tail.read_new(final=True)
    assert restarted and [e["loss"] for e in events] == [0.9]


# -- the start form ----------------------------------------------------------------------------------
def estimate_shown(page) -> bool:
    text = page.form.estimate_label.text()
    return "About" in text or ("b00020" in text and "Choose" not in text)


def pick(page, qtbot, task: str, path: Path) -> None:
    page.form.set_task(task)
    page.form.pick_path(path, folder=False)
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and estimate_shown(page), timeout=60_000)


def test_form_shows_the_plan_and_fixes_a_job_that_does_not_fit(main_window, qtbot, tmp_path):
    page = main_window.show_page("Fine-tune")
    pick(page, qtbot, "classifier", write_csv(tmp_path / "topics.csv", labelled_rows()))
    assert "✔" in page.form.estimate_label.text()
    assert page.form.start_button.isEnabled()
    settings = {page.form.settings_table.item(r, 0).text(): page.form.settings_table.item(r, 2).text()
                for r in range(page.form.settings_table.rowCount())}
    assert "learning rate" in settings and settings["max length"]  # every choice comes with its reason
    assert page.form.name_edit.text() == "all-MiniLM-L6-v2-topics"
    shot(main_window, "1-form-with-estimate")

    # Far too large a batch at full length: the page says why and offers the fixes.
    page.form.advanced_toggle.setChecked(True)
    page.form.set_override("batch_size", 1024)
    page.form.set_override("max_length", 512)
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and "Will not fit" in page.form.estimate_label.text(),
                    timeout=60_000)
    assert not page.form.start_button.isEnabled()
    assert page.form.fix_box.isVisible() and "MB" in page.form.fix_reason.text()
    assert page.form.fix_buttons["batch"].isVisible() and page.form.fix_buttons["max_length"].isVisible()
    assert not page.form.fix_buttons["lora"].isVisible()  # LoRA is offered for chat models only
    shot(main_window, "2-form-will-not-fit")

    page.form.fix_buttons["batch"].click()
    assert page.form.overrides()["batch_size"] == 512 and page.form.overrides()["gradient_accumulation"] == 2
    page.form.fix_buttons["max_length"].click()
    assert page.form.overrides()["max_length"] == 256
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and estimate_shown(page)
                    and page.form.plan_view.values["batch_size"] == 512, timeout=60_000)
    assert page.form.plan_view.values["max_length"] == 256

    page.form.reset_overrides()
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and "✔" in page.form.estimate_label.text(),
                    timeout=60_000)
    assert page.form.overrides() == {} and page.form.start_button.isEnabled()


def test_bad_data_gets_one_line_and_no_start(main_window, qtbot, tmp_path):
    page = main_window.show_page("Fine-tune")
    bad = write_csv(tmp_path / "notes.csv", [("a", "b")], header=("title", "body"))
    pick(page, qtbot, "classifier", bad)
    text = page.form.estimate_label.text()
    assert "text,label" in text and "\n" not in text
    assert not page.form.start_button.isEnabled()
    single = write_csv(tmp_path / "single.csv", [(f"text {i}", "only") for i in range(10)])
    pick(page, qtbot, "classifier", single)
    assert "single label" in page.form.estimate_label.text()
    assert not page.form.start_button.isEnabled()
    assert jobs.list_jobs(main_window.context.db) == []


def test_documents_folder_is_planned_as_continued_pretraining(main_window, qtbot, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(6):
        (folder / f"note{i}.txt").write_text(f"Meeting {i}: the quarterly figures of the bakery were discussed. " * 5)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")
    page = main_window.show_page("Fine-tune")
    page.form.set_task("pretrain")
    page.form.pick_path(folder, folder=True)
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and estimate_shown(page), timeout=60_000)
    assert "✔" in page.form.estimate_label.text(), page.form.estimate_label.text()
    assert page.form.data_combo.currentText() == "Folder: notes"
    rows = {page.form.settings_table.item(r, 0).text(): page.form.settings_table.item(r, 1).text()
            for r in range(page.form.settings_table.rowCount())}
    assert rows["data"].startswith("5 training")  # six notes, one held out; the photo is no document
    assert "blocks" in page.form.settings_table.item(
        [page.form.settings_table.item(r, 0).text() for r in range(page.form.settings_table.rowCount())]
        .index("max length"), 2).text()


def test_a_stored_dataset_is_offered_and_its_version_records_the_job(main_window, qtbot):
    from desktop.finetune import engine
    from desktop.store import datasets

    db = main_window.context.db
    datasets.import_rows(db, "topics", "classification", [{"text": t, "label": label} for t, label in labelled_rows()])
    page = main_window.show_page("Fine-tune")
    page.form.set_task("classifier")
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and estimate_shown(page), timeout=60_000)
    assert page.form.data_combo.currentText() == "Dataset: topics"
    assert "✔" in page.form.estimate_label.text()

    job = engine.create_job(db, main_window.context.registry, page.form.request())
    assert job["status"] == "queued" and job["dataset_id"] == datasets.get_dataset(db, "topics")["id"]
    versions = datasets.dataset_versions(db, job["dataset_id"])
    assert [v["snapshot_hash"] for v in versions] == [job["snapshot_hash"]]
    assert [j["id"] for j in versions[0]["jobs"]] == [job["id"]]
    assert (Path(job["job_dir"]) / "data" / "train.jsonl").exists()


# -- jobs found on start -------------------------------------------------------------------------------
def make_job(db, home: Path, job_id: str, events: list[dict], status: str = "running", pid: int = 999_999) -> Path:
    folder = home / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    config = {"recipe": "classifier", "base": {"name": "all-MiniLM-L6-v2", "kind": "encoder", "parameters": 22_700_000},
              "device": "cpu", "data": {"labels": ["cooking", "sport"], "train_rows": 40, "eval_rows": 10,
                                        "sha256": "ab" * 32},
              "hyperparameters": {"learning_rate": {"value": 1.5e-4, "reason": "a small encoder"}}}
    (folder / "config.json").write_text(json.dumps(config))
    jobs.create_job(db, job_id, "classifier", folder, base_model="all-MiniLM-L6-v2", snapshot_hash="ab" * 32,
                    model_name=f"model-{job_id}", config=config)
    jobs.update_job(db, job_id, status=status, pid=pid, started=jobs.now())
    return folder


def test_page_settles_jobs_that_ended_while_it_was_closed(qtbot, fireside_home):
    from desktop.app import build_context
    from desktop.main_window import MainWindow

    context = build_context()
    started = [{"event": "start", "total_steps": 10, "epochs": 2, "device": "cpu", "pid": 999_999}]
    make_job(context.db, fireside_home, "20240101-000000-aaaa", started + [step(1, 0.8), step(2, 0.7)])
    done = {"event": "done", "status": "completed", "message": "saved after 10 steps", "time": 4e9, "model": "m",
            "metrics": {"accuracy": 0.9, "macro_f1": 0.89,
                        "confusion_matrix": {"labels": ["cooking", "sport"], "matrix": [[5, 0], [1, 4]]}}}
    make_job(context.db, fireside_home, "20240102-000000-bbbb",
             started + [step(n, 1 / n) for n in range(1, 11)] + [done])

    window = MainWindow(context)
    qtbot.addWidget(window)
    page = window.show_page("Fine-tune")
    by_id = {job["id"]: job for job in page.jobs_model.records}
    assert by_id["20240101-000000-aaaa"]["status"] == "interrupted"
    assert by_id["20240102-000000-bbbb"]["status"] == "completed"
    assert not page.followers  # nothing to follow: both processes are gone

    page.show_job("20240101-000000-aaaa")
    view = page.job_view
    assert view.resume_button.isVisibleTo(view) and not view.stop_button.isVisibleTo(view)
    assert "Interrupted" in view.status.text()
    assert view.plot.point_counts() == (2, 0)

    page.show_job("20240102-000000-bbbb")
    assert view.status.text() == "Finished" and view.progress.value() == view.progress.maximum()
    assert view.classifier_button.isVisibleTo(view) and not view.resume_button.isVisibleTo(view)
    assert view.confusion.isVisibleTo(view) and view.confusion.matrix.tolist() == [[5, 0], [1, 4]]
    assert view.metrics_table.item(0, 0).text() == "accuracy"
    window.close()
