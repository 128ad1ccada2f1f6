"""The Fine-tune page: one click from data to a better model, with everything visible.

Left, every job the app has run (the `jobs` table); right, either the start form or one job:
its live progress while it trains, its results when it ends, and the comparison with its base.
A job is its own process (desktop.finetune.process): closing the window leaves it training, and
the next start re-attaches to it, or shows it as interrupted with Resume.
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter, QStackedWidget, QTableView, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.context import AppContext
from desktop.finetune import engine
from desktop.finetune.events import JobState, read_state
from desktop.finetune.form import JobRequest, StartForm
from desktop.finetune.jobs_model import JobsTableModel
from desktop.finetune.process import EXIT_COMPLETED, EXIT_REFUSED, TrainingProcess, last_error_line
from desktop.finetune.sources import sources_for
from desktop.store.jobs import ACTIVE
from models.errors import ModelError


class FinetunePage(QWidget):
    title = "Fine-tune"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.context = context
        self.followers: dict[str, TrainingProcess] = {}
        self.states: dict[str, JobState] = {}
        self.current_job_id: str | None = None
        self.plan_op: BackgroundOp | None = None
        self.plan_generation = 0
        self.rows = engine.RowCache()
        self.job_view = None  # built on first use: its plots import pyqtgraph
        self.compare_view = None

        # -- left: the jobs ------------------------------------------------------------------------
        self.new_button = QPushButton("New fine-tune")
        self.new_button.clicked.connect(self.show_form)
        self.jobs_model = JobsTableModel(self)
        self.jobs_table = QTableView()
        self.jobs_table.setModel(self.jobs_model)
        self.jobs_table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.jobs_table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.jobs_table.verticalHeader().hide()
        self.jobs_table.setShowGrid(False)
        self.jobs_table.setWordWrap(False)
        self.jobs_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.jobs_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.jobs_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.jobs_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.jobs_table.clicked.connect(self._job_clicked)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Jobs</b>"))
        left_layout.addWidget(self.jobs_table, 1)
        left_layout.addWidget(self.new_button)

        # -- right: the form, a job, or the comparison ---------------------------------------------
        self.form = StartForm()
        self.form.changed.connect(self._form_changed)
        self.form.start_requested.connect(self.start_job)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.form)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.stack)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 800])
        left.setMinimumWidth(300)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        header.addWidget(QLabel("<h2>Fine-tune</h2>"))
        header.addStretch()
        layout.addLayout(header)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

        # The running clock ("elapsed", durations in the list) moves even between trainer lines.
        self.clock = QTimer(self)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._tick)

        self.refresh_models()
        self.refresh_jobs()
        self.reattach()
        self._form_changed()

    # -- the form ----------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        by_kind: dict[str, list[str]] = {}
        for entry in self.context.registry.list():
            by_kind.setdefault(entry.kind, []).append(entry.name)
        self.form.set_models(by_kind)

    def show_form(self) -> None:
        self.current_job_id = None
        self.jobs_table.clearSelection()
        self.rows.clear()  # stored data may have changed since the form was last shown
        self.refresh_models()
        self.stack.setCurrentWidget(self.form)
        self._form_changed()

    def _form_changed(self) -> None:
        """A choice changed: refill the data sources for the task, then plan in the background."""
        sources = sources_for(self.context.db, self.form.task)
        if sources != self.form.stored_sources:
            self.form.set_sources(sources)
        self.plan()

    def plan(self) -> BackgroundOp | None:
        request = self.form.request()
        if request is None:
            self.form.show_plan_error("No model of this kind is registered; add one on the Models page.")
            return None
        if request.source is None:
            self.form.show_plan_error("Choose the data to learn from.")
            return None
        self.plan_generation += 1
        generation = self.plan_generation
        self.form.show_planning()
        db, registry = self.context.db, self.context.registry

        def done(view):
            if generation == self.plan_generation:  # a newer choice has its own plan coming
                self.form.show_plan(view)

        def failed(message):
            if generation == self.plan_generation:
                self.form.show_plan_error(message)

        self.plan_op = BackgroundOp(engine.plan_view, db, registry, request, self.rows)
        return self.plan_op.success(done).failure(failed).run_in_background()

    # -- starting ----------------------------------------------------------------------------------
    def start_job(self, request: JobRequest) -> BackgroundOp:
        """Freeze the data into a new job folder (in the background), then start the trainer."""
        self.form.show_preparing(True)

        def prepared(job: dict):
            self.form.show_preparing(False)
            self.launch(job)

        def failed(message: str):
            self.form.show_preparing(False)
            self.form.message.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

        op = BackgroundOp(engine.create_job, self.context.db, self.context.registry, request)
        return op.success(prepared).failure(failed).run_in_background()

    def launch(self, job: dict, resume: bool = False) -> None:
        job_id = job["id"]
        try:
            follower = TrainingProcess.start(Path(job["job_dir"]), engine.read_config(job), resume=resume, parent=self)
        except OSError as exc:
            engine.mark_ended(self.context.db, job_id, "failed", f"The trainer could not be started: {exc}")
            self.refresh_jobs()
            self.show_job(job_id)
            return
        engine.mark_running(self.context.db, job_id, follower.pid, resume)
        self.states[job_id] = JobState()
        self._follow(job_id, follower)
        self.refresh_jobs()
        self.show_job(job_id)

    def _follow(self, job_id: str, follower: TrainingProcess) -> None:
        self.followers[job_id] = follower
        follower.events.connect(lambda events, fresh, j=job_id: self._on_events(j, events, fresh))
        follower.restarted.connect(lambda j=job_id: self._on_restarted(j))
        follower.ended.connect(lambda code, j=job_id: self._on_ended(j, code))
        self.clock.start()

    # -- following -----------------------------------------------------------------------------------
    def _on_events(self, job_id: str, events: list[dict], fresh: bool) -> None:
        state = self.states.setdefault(job_id, JobState())
        for event in events:
            state.apply(event)
            if fresh:  # the lines of earlier runs are already in the row
                engine.record(self.context.db, job_id, event)
        if job_id == self.current_job_id and self.job_view is not None:
            self.job_view.update_state(state)

    def _on_restarted(self, job_id: str) -> None:
        self.states[job_id] = JobState()

    def _on_ended(self, job_id: str, exit_code: int) -> None:
        follower = self.followers.pop(job_id, None)
        stop_requested = bool(follower and follower.stop_requested)
        if follower is not None:
            follower.deleteLater()
        state = self.states.setdefault(job_id, JobState())
        job = engine.get_job(self.context.db, job_id) or {"id": job_id}
        status, message = outcome(state, exit_code, stop_requested, last_error_line(Path(job.get("job_dir") or ".")))
        if state.status is None:  # no `done` line: the row learns the end from here
            engine.mark_ended(self.context.db, job_id, status, message)
        self.refresh_jobs()
        if status == "completed":
            self.refresh_models()
            self._refresh_models_page()
        if job_id == self.current_job_id:
            self.show_job(job_id)
        if not self.followers:
            self.clock.stop()

    def _tick(self) -> None:
        if self.current_job_id in self.followers and self.job_view is not None:
            self.job_view.update_progress()
        self.jobs_table.viewport().update()

    # -- Stop / Resume -------------------------------------------------------------------------------
    def stop_current(self) -> None:
        follower = self.followers.get(self.current_job_id or "")
        if follower is None:
            return
        if follower.stop():
            self.job_view.stop_button.setEnabled(False)
            self.job_view.status.setText("Stopping: saving a checkpoint…")
        else:
            self.show_message("The trainer had already ended.")

    def resume_current(self) -> None:
        job = engine.get_job(self.context.db, self.current_job_id)
        if job is None or job["id"] in self.followers:
            return
        self.launch(job, resume=True)

    # -- re-attaching ----------------------------------------------------------------------------------
    def reattach(self) -> None:
        """Follow the jobs still training since an earlier start; settle the ones that ended meanwhile."""
        for job in engine.list_jobs(self.context.db):
            if job.get("status") not in ACTIVE or job["id"] in self.followers:
                continue
            if engine.trainer_running(job):
                self.states[job["id"]] = JobState()
                follower = TrainingProcess.attach(Path(job["job_dir"]), int(job["pid"]), parent=self)
                self._follow(job["id"], follower)
            elif job.get("pid"):
                engine.settle(self.context.db, job)  # done while the window was closed, or interrupted
            else:  # prepared, but the window closed before its trainer started: Resume starts it
                engine.mark_ended(self.context.db, job["id"], "interrupted", "")
        self.refresh_jobs()
        if self.followers:
            self.show_job(next(iter(self.followers)))

    # -- showing ----------------------------------------------------------------------------------------
    def refresh_jobs(self) -> None:
        self.jobs_model.set_jobs(engine.list_jobs(self.context.db))
        if self.current_job_id:
            row = self.jobs_model.row_of(self.current_job_id)
            if row >= 0:
                self.jobs_table.selectRow(row)

    def _job_clicked(self, index) -> None:
        job = self.jobs_model.records[index.row()]
        self.show_job(job["id"])

    def showEvent(self, event) -> None:
        super().showEvent(event)
        import sys

        if self.job_view is None and "pyqtgraph" in sys.modules:
            # Built once the page is on screen, not when Start is clicked: its plots take ~0.1 s
            # to build, which would freeze the window just as the training begins.
            QTimer.singleShot(0, self.ensure_job_view)

    def ensure_job_view(self):
        if self.job_view is None:
            from desktop.finetune.job_view import JobView

            self.job_view = JobView()
            self.job_view.stop_clicked.connect(self.stop_current)
            self.job_view.resume_clicked.connect(self.resume_current)
            self.job_view.chat_clicked.connect(self.chat_with_current)
            self.job_view.use_classifier_clicked.connect(self.use_current_for_classifier)
            self.job_view.compare_clicked.connect(self.compare_current)
            self.stack.addWidget(self.job_view)
        return self.job_view

    def show_job(self, job_id: str) -> None:
        job = engine.get_job(self.context.db, job_id)
        if job is None:
            return
        self.current_job_id = job_id
        view = self.ensure_job_view()
        state = self.states.get(job_id)
        if state is None or (job_id not in self.followers and state.status is None):
            state = self.states[job_id] = read_state(Path(job.get("job_dir") or "."))
        view.show_job(job, state, engine.read_config(job))
        view.set_status(job.get("status") or "", job.get("message") or "")
        self.stack.setCurrentWidget(view)
        row = self.jobs_model.row_of(job_id)
        if row >= 0:
            self.jobs_table.selectRow(row)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    # -- using the result ------------------------------------------------------------------------------
    def _main_window(self):
        window = self.window()
        return window if hasattr(window, "pages") and hasattr(window, "show_page") else None

    def _refresh_models_page(self) -> None:
        window = self._main_window()
        if window is not None and "Models" in window.pages:
            window.pages["Models"].refresh()

    def current_model_name(self) -> str | None:
        job = engine.get_job(self.context.db, self.current_job_id)
        return job.get("model_name") if job else None

    def chat_with_current(self) -> None:
        """Open the Chat page on a new conversation with the tuned model chosen (and loading)."""
        name = self.current_model_name()
        if not name:
            return
        window = self._main_window()
        chat = window.pages.get("Chat") if window is not None else None
        controller = getattr(chat, "controller", None)
        if controller is None or not hasattr(controller, "set_model"):
            self._tell_where(name, "Chat")
            return
        if hasattr(chat, "new_conversation"):
            chat.new_conversation()
        controller.set_model(name)
        if hasattr(chat, "refresh_models"):
            chat.refresh_models()
        window.show_page("Chat")

    def use_current_for_classifier(self) -> None:
        """Make the new model the fine-tuned method of the classifier it was trained for (or one with its labels)."""
        name = self.current_model_name()
        job = engine.get_job(self.context.db, self.current_job_id)
        entry = engine.registered_entry(self.context.registry, name)
        if not name or job is None or entry is None:
            return
        try:
            target = engine.use_for_classifier(self.context.db, job, entry)
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return
        if target is None:
            self._tell_where(name, "Classify")
            return
        window = self._main_window()
        classify = window.pages.get("Classify") if window is not None else None
        if classify is not None and hasattr(classify, "refresh_classifiers"):
            classify.refresh_classifiers(select=target["id"])
            window.show_page("Classify")
        self.show_message(f"{target['name']} now classifies with {name}.")

    def _tell_where(self, name: str, page_title: str) -> None:
        entry = engine.registered_entry(self.context.registry, name)
        where = f" Its files are in {entry.path}." if entry else ""
        self.show_message(f"{name} is registered and listed on the Models page; choose it on the {page_title} "
                          f"page.{where}")

    def compare_current(self) -> None:
        job = engine.get_job(self.context.db, self.current_job_id)
        if job is None:
            return
        try:
            base, tuned = engine.compare_pair(self.context.registry, job)
        except ModelError as exc:  # a removed model, or one that is not a chat model
            self.show_message(str(exc), error=True)
            return
        if self.compare_view is None:
            from desktop.finetune.compare import CompareView

            self.compare_view = CompareView()
            self.compare_view.back_clicked.connect(lambda: self.show_job(self.current_job_id))
            self.stack.addWidget(self.compare_view)
        self.compare_view.set_models(base, tuned)
        self.stack.setCurrentWidget(self.compare_view)

    # -- closing -----------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The window closes: stop following; the trainers go on and are re-attached next time."""
        for follower in self.followers.values():
            follower.detach()
        self.clock.stop()
        if self.compare_view is not None:
            self.compare_view.shutdown()


def outcome(state: JobState, exit_code: int, stop_requested: bool, error_line: str) -> tuple[str, str]:
    """(status, message) of a trainer that has ended, from its last events and its exit code.

    The trainer reports every end it sees coming with a `done` line; without one it was killed or
    crashed hard, which Resume recovers from once training had begun.
    """
    if state.status:
        return state.status, (state.done or {}).get("message") or ""
    if stop_requested:
        return "stopped", "Stopped before the trainer could save a checkpoint."
    if exit_code == EXIT_COMPLETED:
        return "completed", ""
    if state.started and exit_code != EXIT_REFUSED:
        return "interrupted", ""
    return "failed", error_line or f"The trainer ended (exit code {exit_code}) before it began training."
