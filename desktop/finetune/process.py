"""The trainer as its own process, and the page following it through the job's events file.

A job runs `python -m models.finetune run JOB_DIR [--resume]` in a session of its own, so closing
the window (or the window crashing) leaves it training. The page never reads the trainer's pipes:
it follows `events.jsonl`, which the trainer writes line by line, so following a job it started a
minute ago and re-attaching to one it started yesterday are the same code.

Qt's QProcess.startDetached in PySide6 does not hand back the process id, which Stop and the
re-attach need, so the process is started with `subprocess.Popen` in a new session instead; Qt
timers do the following.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil
from PySide6.QtCore import QObject, QTimer, Signal

from desktop.finetune.events import EVENTS_FILE, EventTail

STDERR_FILE = "stderr.log"
POLL_MS = 250
EXIT_COMPLETED, EXIT_FAILED, EXIT_REFUSED, EXIT_STOPPED = 0, 1, 2, 3


def _package_root() -> Path:
    """The folder holding the `models` package this process imported (the trainer must use the same)."""
    import models

    return Path(models.__file__).resolve().parent.parent


def trainer_command(job_dir: Path, config: dict, resume: bool = False) -> list[str]:
    """The engine's own command for the job (`accelerate launch` when it runs on several GPUs)."""
    from models.finetune import launch_command

    return launch_command(job_dir, processes=int(config.get("processes") or 1),
                          device=str(config.get("device") or "cpu"), resume=resume)


def launch(job_dir: Path, config: dict, resume: bool = False) -> subprocess.Popen:
    """Start the trainer on `job_dir`, detached from this process's session; returns the Popen."""
    job_dir = Path(job_dir)
    env = dict(os.environ)
    root = str(_package_root())
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    kwargs: dict = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    with open(job_dir / STDERR_FILE, "ab") as stderr:
        return subprocess.Popen(
            trainer_command(job_dir, config, resume), cwd=str(job_dir), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr, **kwargs,
        )


def trainer_alive(pid: int | None, job_dir: Path) -> bool:
    """Whether `pid` is still the trainer of `job_dir` (not a dead one, nor a recycled pid)."""
    if not pid:
        return False
    try:
        process = psutil.Process(int(pid))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        command = " ".join(process.cmdline())
    except (psutil.Error, ValueError):
        return False
    return "models.finetune" in command and str(Path(job_dir)) in command


def send_stop(pid: int) -> bool:
    """Ask the trainer to stop (SIGTERM: it saves a checkpoint and exits). False when it is gone."""
    try:
        if os.name == "nt":
            psutil.Process(pid).terminate()
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, psutil.Error, OSError):
        return False
    return True


def last_error_line(job_dir: Path) -> str:
    """The last meaningful line the trainer wrote to stderr (its one-line reason when it refused)."""
    path = Path(job_dir) / STDERR_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and not line.startswith(("File ", "^", "~")):
            return line
    return ""


class TrainingProcess(QObject):
    """Follows one running trainer: the events in its file (from the first line), and its end.

    `started(...)` wraps a process this window launched (its exit code is known); `attach(...)`
    follows one launched before, by pid (the exit code is then unknown: -1).
    """

    events = Signal(list, bool)  # (events, fresh): fresh is False for the lines of earlier runs
    restarted = Signal()
    ended = Signal(int)

    def __init__(self, job_dir: Path, pid: int, popen: subprocess.Popen | None = None, parent=None):
        super().__init__(parent)
        self.job_dir = Path(job_dir)
        self.pid = pid
        self.popen = popen
        self.tail = EventTail(self.job_dir / EVENTS_FILE)
        # What the file holds now was written by earlier runs (a stopped run before a resume).
        self.history_end: int | None = self.tail.size()
        self.exit_code: int | None = None
        self.stop_requested = False
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @classmethod
    def start(cls, job_dir: Path, config: dict, resume: bool = False, parent=None) -> "TrainingProcess":
        popen = launch(job_dir, config, resume)
        follower = cls(job_dir, popen.pid, popen, parent)
        follower.timer.start()
        return follower

    @classmethod
    def attach(cls, job_dir: Path, pid: int, parent=None) -> "TrainingProcess":
        follower = cls(job_dir, pid, None, parent)
        follower.timer.start()
        return follower

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def alive(self) -> bool:
        if self.popen is not None:
            code = self.popen.poll()
            if code is not None:
                self.exit_code = code
                return False
            return True
        return trainer_alive(self.pid, self.job_dir)

    def poll(self) -> None:
        alive = self.alive()
        if self.history_end is not None:
            history, _ = self.tail.read_new(limit=self.history_end)
            self.history_end = None
            if history:
                self.events.emit(history, False)
        events, restarted = self.tail.read_new(final=not alive)
        if restarted:
            self.restarted.emit()
        if events:
            self.events.emit(events, True)
        if not alive:
            self.timer.stop()
            if self.exit_code is None:
                self.exit_code = -1
            self.ended.emit(self.exit_code)

    def stop(self) -> bool:
        self.stop_requested = True
        return send_stop(self.pid)

    def detach(self) -> None:
        """Stop following (the window closes); the trainer itself goes on."""
        self.timer.stop()
