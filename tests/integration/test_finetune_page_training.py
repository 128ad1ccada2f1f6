"""The Fine-tune page driving the real trainer on the default models, with tiny data.

A classifier job goes through its whole life: started from the form, followed live, left running
while the window closes, re-attached by the next window, stopped, resumed, finished; the new
classifier is on the Models page and classifies. A LoRA chat job finishes with before/after
generations, and Compare with base answers one prompt with both models.
"""
import csv
import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from desktop.app import build_context
from desktop.main_window import MainWindow
from desktop.store import jobs
from tests.finetune_helpers import topic_rows

SHOTS = os.environ.get("FIRESIDE_SHOTS")
STEP_TIMEOUT = 600_000  # ms: generous, a busy 2-core machine trains the chat model slowly


@pytest.fixture(autouse=True)
def no_trainer_left_behind(fireside_home):
    """Trainers outlive their window by design; a test must not leave one running."""
    yield
    for process in psutil.Process().children(recursive=True):
        try:
            if str(fireside_home) in " ".join(process.cmdline()):
                process.kill()
                process.wait(10)
        except psutil.Error:
            pass


def shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def open_window(qtbot) -> MainWindow:
    window = MainWindow(build_context())
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    return window


def plan_ready(page) -> bool:
    return not page.form.debounce.isActive() and "About" in page.form.estimate_label.text()


def start_from_form(page, qtbot, task: str, data: Path, overrides: dict) -> str:
    page.form.set_task(task)
    page.form.pick_path(data, folder=False)
    for name, value in overrides.items():
        page.form.set_override(name, value)
    qtbot.waitUntil(lambda: plan_ready(page) and page.form.start_button.isEnabled(), timeout=120_000)
    page.form.start_button.click()
    qtbot.waitUntil(lambda: page.current_job_id is not None and page.current_job_id in page.followers,
                    timeout=120_000)
    return page.current_job_id


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="pauses the trainer with SIGSTOP (POSIX)")
def test_classifier_job_runs_survives_the_window_stops_resumes_and_finishes(qtbot, tmp_path):
    data = tmp_path / "topics.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(topic_rows())

    first = open_window(qtbot)
    page = first.show_page("Fine-tune")
    job_id = start_from_form(page, qtbot, "classifier", data, {"epochs": 1.0, "batch_size": 2})
    pid = page.followers[job_id].pid
    events = Path(jobs.get_job(first.context.db, job_id)["job_dir"]) / "events.jsonl"
    qtbot.waitUntil(lambda: events.exists() and '"event": "step"' in events.read_text(), timeout=STEP_TIMEOUT)
    # Hold the trainer still (SIGSTOP) right after its first step, so that however fast this machine
    # trains, the window can be closed and opened again and Stop sent before the job is over.
    os.kill(pid, signal.SIGSTOP)
    qtbot.waitUntil(lambda: page.states[job_id].step >= 1, timeout=10_000)
    qtbot.wait(400)  # one more poll: every line written before the pause is shown
    view = page.job_view
    assert view.stop_button.isVisible() and view.progress.value() > 0
    assert "Step" in view.progress_text.text() and view.plot.point_counts()[0] == page.states[job_id].step
    assert view.stats["throughput"].value.text().endswith("ex/s")
    assert jobs.get_job(first.context.db, job_id)["status"] == "running"
    shot(first, "3-running-with-plot")

    # Closing the window leaves the trainer alive.
    first.close()
    assert psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE

    second = open_window(qtbot)
    page = second.show_page("Fine-tune")
    assert job_id in page.followers and page.current_job_id == job_id  # re-attached on start
    qtbot.waitUntil(lambda: page.states[job_id].step >= 1, timeout=10_000)  # its history read back
    assert page.job_view.plot.point_counts()[0] == page.states[job_id].step

    page.job_view.stop_button.click()  # SIGTERM waits while the trainer is paused
    os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: job_id not in page.followers, timeout=STEP_TIMEOUT)
    job = jobs.get_job(second.context.db, job_id)
    view = page.job_view
    assert job["status"] == "stopped", job["message"]
    assert view.status.text().startswith("Stopped") and view.resume_button.isVisible()
    assert list((Path(job["job_dir"]) / "checkpoints").glob("step-*"))
    stopped_at = page.states[job_id].step
    assert 0 < stopped_at < page.states[job_id].total_steps
    shot(second, "4-stopped")

    view.resume_button.click()
    qtbot.waitUntil(lambda: job_id in page.followers, timeout=10_000)
    qtbot.waitUntil(lambda: job_id not in page.followers, timeout=STEP_TIMEOUT)
    job = jobs.get_job(second.context.db, job_id)
    state = page.states[job_id]
    assert job["status"] == "completed", job["message"]
    assert state.step == state.total_steps > stopped_at
    assert state.train_steps == sorted(set(state.train_steps))  # the resumed run continued, not restarted
    assert view.status.text() == "Finished" and view.classifier_button.isVisible()
    shown = view.confusion.matrix.tolist()
    assert view.confusion.isVisibleTo(view) and shown == job["metrics"]["confusion_matrix"]["matrix"]
    assert sum(map(sum, shown)) == job["config"]["data"]["eval_rows"]
    assert view.metrics_table.item(0, 1).text() == f"{job['metrics']['accuracy']:.4g}"
    view.tabs.setCurrentIndex(1)
    shot(second, "5-finished-confusion-matrix")

    models = second.pages["Models"]
    listed = [models.table_model.records[r].name for r in range(models.table_model.rowCount())]
    assert job["model_name"] in listed
    entry = second.context.registry.get(job["model_name"])
    assert entry.kind == "classifier" and set(entry.labels) == {"sport", "cooking"}

    import torch

    from models.loading import load_sequence_classifier

    model, tokenizer = load_sequence_classifier(Path(entry.path))
    with torch.inference_mode():
        logits = model(**tokenizer(["the keeper saved a late penalty"], return_tensors="pt")).logits
    assert entry.labels[int(logits.argmax(-1))] in ("sport", "cooking")

    view.classifier_button.click()
    assert job["model_name"] in page.message.text() or second.stack.currentWidget() is second.pages["Classify"]


def test_chat_job_shows_before_and_after_and_compares_with_base(qtbot, tmp_path):
    conversations = [
        [{"role": "user", "content": f"What is the code word for {thing}?"},
         {"role": "assistant", "content": f"The code word for {thing} is Firefly."}]
        for thing in ("apples", "boats", "clouds", "doors", "eagles", "forks")
    ]
    data = tmp_path / "codewords.jsonl"
    data.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations), encoding="utf-8")

    window = open_window(qtbot)
    page = window.show_page("Fine-tune")
    job_id = start_from_form(page, qtbot, "chat", data, {"lora": "lora", "epochs": 1.0, "batch_size": 3})
    qtbot.waitUntil(lambda: job_id not in page.followers, timeout=STEP_TIMEOUT)
    job = jobs.get_job(window.context.db, job_id)
    view = page.job_view
    assert job["status"] == "completed", job["message"]
    assert view.stats["throughput"].value.text().endswith("tok/s")
    samples = job["metrics"]["generations"]
    assert samples and all("before" in s and "after" in s for s in samples)
    assert view.generations.isVisibleTo(view) and "Before" in view.generations.toPlainText()
    assert view.chat_button.isVisible() and view.compare_button.isVisible()
    view.tabs.setCurrentIndex(1)
    shot(window, "6-finished-chat-before-after")

    view.compare_button.click()
    compare = page.compare_view
    assert window.pages["Fine-tune"].stack.currentWidget() is compare
    compare.max_new_tokens = 16
    compare.prompt.setPlainText("What is the code word for apples?")
    compare.ask_button.click()
    qtbot.waitUntil(lambda: not compare.running, timeout=STEP_TIMEOUT)
    base_answer, tuned_answer = compare.answer_texts()
    assert base_answer.strip() and tuned_answer.strip()
    assert not tuned_answer.startswith("Could not answer"), tuned_answer
    shot(window, "7-compare-with-base")

    # Chat with it: the Chat page opens a new conversation with the tuned model, which answers there.
    from desktop.store import conversations
    from models.chat import ChatSettings

    compare.back_button.click()
    view.chat_button.click()
    chat = window.pages["Chat"]
    assert window.stack.currentWidget() is chat
    assert chat.controller.model_name == job["model_name"] == chat.model_box.currentText()
    chat.controller.apply_settings(ChatSettings(temperature=0, max_new_tokens=12), "")
    chat.prompt.setPlainText("What is the code word for apples?")
    with qtbot.waitSignal(chat.controller.reply_finished, timeout=STEP_TIMEOUT) as finished:
        assert chat.send()
    reply_id, status = finished.args
    reply = conversations.get_message(window.context.db, reply_id)
    assert status == "complete" and reply["content"].strip()
    assert reply["stats"]["model"] == job["model_name"]
    shot(window, "8-chat-with-it")
    window.close()  # the chat page stops its generation thread
