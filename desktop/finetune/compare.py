"""Compare with base: the same prompt answered by the base model and the tuned one, side by side.

Both answers are generated off the GUI thread (one BackgroundOp each, one after the other: the
machine's cores are better spent on one model at a time), greedy so that a difference is the
training's and not the dice's. Loaded models are kept until the page closes.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QTextBrowser, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp

DEFAULT_PROMPT = "Tell me in two sentences what you can help me with."
MAX_NEW_TOKENS = 160


def load_generator(path: Path, name: str):
    from models.generation import Generator

    return Generator.load(Path(path), name=name)


def answer(generator, prompt: str, stop: threading.Event, max_new_tokens: int = MAX_NEW_TOKENS, op=None) -> str:
    from models.generation import GenerationSettings

    settings = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens, repetition_penalty=1.1)
    ids = generator.chat_prompt_ids([{"role": "user", "content": prompt}])

    def on_text(piece: str) -> None:
        if op is not None:
            op.progress(0.0, piece)

    return generator.generate(ids, settings, on_text=on_text, stop_event=stop).text


class CompareView(QWidget):
    back_clicked = Signal()
    finished = Signal()  # both answers are in (or the comparison was stopped)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.generators: dict[str, object] = {}
        self.models: list[tuple[str, Path]] = []  # (name, folder) for base, then tuned
        self.stop_event = threading.Event()
        self.ops: list[BackgroundOp] = []
        self.running = False
        self.max_new_tokens = MAX_NEW_TOKENS

        self.title = QLabel("<h3>Compare with base</h3>")
        self.prompt = QPlainTextEdit(DEFAULT_PROMPT)
        self.prompt.setMaximumHeight(90)
        self.ask_button = QPushButton("Ask both")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.back_button = QPushButton("Back to the job")
        self.ask_button.clicked.connect(self.ask)
        self.stop_button.clicked.connect(self.stop)
        self.back_button.clicked.connect(self.back_clicked)
        self.status = QLabel()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        buttons = QHBoxLayout()
        for button in (self.ask_button, self.stop_button, self.back_button):
            buttons.addWidget(button)
        buttons.addWidget(self.busy)
        buttons.addWidget(self.status, 1)

        self.captions = [QLabel(), QLabel()]
        self.answers = [QTextBrowser(), QTextBrowser()]
        panes = QGridLayout()
        for column in range(2):
            self.captions[column].setStyleSheet("font-weight: 600;")
            panes.addWidget(self.captions[column], 0, column)
            panes.addWidget(self.answers[column], 1, column)
        self.answers[1].setStyleSheet("QTextBrowser { background: #fdf6f1; }")

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(QLabel("Prompt"))
        layout.addWidget(self.prompt)
        layout.addLayout(buttons)
        layout.addLayout(panes, 1)

    def set_models(self, base: tuple[str, Path], tuned: tuple[str, Path]) -> None:
        self.models = [base, tuned]
        self.captions[0].setText(f"Base: {base[0]}")
        self.captions[1].setText(f"Tuned: {tuned[0]}")
        for pane in self.answers:
            pane.clear()
        self.status.clear()

    def ask(self) -> None:
        prompt = self.prompt.toPlainText().strip()
        if not prompt or self.running or len(self.models) != 2:
            return
        self.stop_event = threading.Event()
        self.running = True
        self.ask_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.busy.show()
        for pane in self.answers:
            pane.clear()
        self._answer(0, prompt)

    def _answer(self, side: int, prompt: str) -> None:
        name, folder = self.models[side]
        self.status.setText(f"{name} is answering…")
        stop = self.stop_event
        generators = self.generators
        max_new_tokens = self.max_new_tokens

        def work(op):
            generator = generators.get(str(folder))
            if generator is None:
                op.progress(0.0, "")
                generator = generators[str(folder)] = load_generator(folder, name)
            return answer(generator, prompt, stop, max_new_tokens, op)

        def piece(_fraction: float, text: str) -> None:
            if text:
                cursor = self.answers[side].textCursor()
                cursor.movePosition(cursor.MoveOperation.End)
                cursor.insertText(text)

        def done(text: str) -> None:
            self.answers[side].setPlainText(text)
            if side == 0 and not stop.is_set():
                self._answer(1, prompt)
            else:
                self._finish("Stopped." if stop.is_set() else "Both answered (greedy decoding, same prompt).")

        def failed(message: str) -> None:
            self.answers[side].setPlainText(f"Could not answer: {message}")
            self._finish(f"{name} could not answer: {message}")

        op = BackgroundOp(work).on_progress(piece).success(done).failure(failed)
        self.ops = [o for o in self.ops if o.signals is not None and not o.cancelled()][-4:] + [op]
        op.run_in_background()

    def _finish(self, text: str) -> None:
        self.running = False
        self.busy.hide()
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(text)
        self.finished.emit()

    def stop(self) -> None:
        self.stop_event.set()

    def answer_texts(self) -> list[str]:
        return [pane.toPlainText() for pane in self.answers]

    def shutdown(self) -> None:
        self.stop_event.set()
        self.generators.clear()
