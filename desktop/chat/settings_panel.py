"""The side panel with the conversation's settings: preset, system prompt, sampling values."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout,
)

from models.chat.settings import CUSTOM, PRESETS, ChatSettings, preset

RANDOM_SEED = -1
SYSTEM_PROMPT_DELAY_MS = 400


class SettingsPanel(QFrame):
    """Emits `changed(settings, system_prompt)` when the user changes anything."""

    changed = Signal(object, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("settingsPanel")
        self.setMinimumWidth(260)
        self.setMaximumWidth(340)
        self._loading = False

        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS) + [CUSTOM])
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("e.g. You are a concise assistant. Answer in English.")
        self.system_prompt.setMaximumHeight(120)
        self.temperature = self._double(0.0, 5.0, 0.05, "0 picks the most likely token every time (greedy)")
        self.top_p = self._double(0.01, 1.0, 0.05, "Sample only from the most likely tokens that together make up this probability")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setToolTip("Sample only from this many most likely tokens (0: no limit)")
        self.max_new_tokens = QSpinBox()
        self.max_new_tokens.setRange(1, 32768)
        self.max_new_tokens.setToolTip("The longest reply, in tokens")
        self.repetition_penalty = self._double(0.5, 3.0, 0.05, "Above 1 discourages repeating the same words")
        self.seed = QSpinBox()
        self.seed.setRange(RANDOM_SEED, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("The same seed and settings give the same reply")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Preset", self.preset)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Max new tokens", self.max_new_tokens)
        form.addRow("Repetition penalty", self.repetition_penalty)
        form.addRow("Seed", self.seed)

        title = QLabel("<b>Conversation settings</b>")
        hint = QLabel("Saved with this conversation; new conversations start from the last ones used.")
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addSpacing(6)
        layout.addWidget(QLabel("System prompt"))
        layout.addWidget(self.system_prompt)
        layout.addLayout(form)
        layout.addStretch()

        self._system_timer = QTimer(self)
        self._system_timer.setSingleShot(True)
        self._system_timer.setInterval(SYSTEM_PROMPT_DELAY_MS)
        self._system_timer.timeout.connect(self._emit)
        self.preset.currentTextChanged.connect(self._preset_chosen)
        self.system_prompt.textChanged.connect(lambda: None if self._loading else self._system_timer.start())
        for box in (self.temperature, self.top_p, self.top_k, self.max_new_tokens, self.repetition_penalty, self.seed):
            box.valueChanged.connect(self._value_changed)

    @staticmethod
    def _double(low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setToolTip(tip)
        return box

    def load(self, settings: ChatSettings, system_prompt: str) -> None:
        """Show `settings` without emitting `changed`."""
        self._loading = True
        try:
            self.preset.setCurrentText(settings.preset if settings.preset in PRESETS else CUSTOM)
            self.temperature.setValue(settings.temperature)
            self.top_p.setValue(settings.top_p)
            self.top_k.setValue(settings.top_k)
            self.max_new_tokens.setValue(settings.max_new_tokens)
            self.repetition_penalty.setValue(settings.repetition_penalty)
            self.seed.setValue(RANDOM_SEED if settings.seed is None else settings.seed)
            if self.system_prompt.toPlainText() != system_prompt:
                self.system_prompt.setPlainText(system_prompt)
        finally:
            self._loading = False

    def current(self) -> ChatSettings:
        seed = self.seed.value()
        values = ChatSettings(
            temperature=round(self.temperature.value(), 4), top_p=round(self.top_p.value(), 4),
            top_k=self.top_k.value(), max_new_tokens=self.max_new_tokens.value(),
            repetition_penalty=round(self.repetition_penalty.value(), 4), seed=None if seed == RANDOM_SEED else seed,
        )
        return values.with_values()

    def flush(self) -> None:
        """Emit a pending system prompt change now (before a message is sent)."""
        if self._system_timer.isActive():
            self._system_timer.stop()
            self._emit()

    def _emit(self) -> None:
        self.changed.emit(self.current(), self.system_prompt.toPlainText())

    def _preset_chosen(self, name: str) -> None:
        if self._loading or name not in PRESETS:
            return
        self.load(preset(name, self.current()), self.system_prompt.toPlainText())
        self._emit()

    def _value_changed(self, *_):
        if self._loading:
            return
        settings = self.current()
        self._loading = True
        self.preset.setCurrentText(settings.preset)
        self._loading = False
        self._emit()
