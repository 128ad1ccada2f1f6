"""The local API switch on the Models page: start and stop the server, its address, the requests it handled.

The server itself (desktop.server) runs in its own thread with its own event loop; starting and
stopping go through BackgroundOp, and each handled request reaches this panel through a queued
signal. desktop.server (FastAPI, uvicorn) is imported only when the switch is first turned on.
"""
from __future__ import annotations

import secrets
import time

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
    QSizePolicy, QSpinBox, QTableView, QVBoxLayout,
)

from desktop.background import BackgroundOp
from desktop.context import AppContext
from desktop.store.settings import get_setting, prompt_lookup, set_setting
from desktop.widgets.record_table import RecordTableModel

SERVICE = "api_server"
DEFAULT_PORT = 8765
ACCESS = (("This computer only", "127.0.0.1"), ("Other computers too (API key required)", "0.0.0.0"))
COLUMNS = ("Time", "Request", "Model", "Status", "Duration", "Tokens", "Outcome")
KEEP_ROWS = 500


class RequestLogModel(RecordTableModel):
    """The handled requests, newest first."""

    def __init__(self, parent=None):
        super().__init__(COLUMNS, parent)

    def add(self, record) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self.records.insert(0, record)
        self.endInsertRows()
        if len(self.records) > KEEP_ROWS:
            self.beginRemoveRows(QModelIndex(), KEEP_ROWS, len(self.records) - 1)
            del self.records[KEEP_ROWS:]
            self.endRemoveRows()

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            tokens = str(record.prompt_tokens or "")
            if record.completion_tokens:
                tokens = f"{record.prompt_tokens} + {record.completion_tokens}"
            return (
                time.strftime("%H:%M:%S", time.localtime(record.time)), f"{record.method} {record.path}",
                record.model, str(record.status), f"{record.duration_s:.2f} s", tokens, record.outcome,
            )[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 3 and record.status >= 400:
            from PySide6.QtGui import QColor

            return QColor("#b00020")
        if role == Qt.ItemDataRole.ToolTipRole:
            return record.outcome if index.column() == len(COLUMNS) - 1 else f"from {record.client}"
        return None


class _LogBridge(QObject):
    """Carries records from the server's thread to the GUI thread."""

    added = Signal(object)


class ServerPanel(QGroupBox):
    def __init__(self, context: AppContext, parent=None):
        super().__init__("Local API server (OpenAI-compatible)", parent)
        self.context = context
        self.bridge = _LogBridge(self)
        self.bridge.added.connect(self._record_added)
        self._listener = self.bridge.added.emit  # called on the server's thread
        self._subscribed = False
        self.handled = 0
        self.op: BackgroundOp | None = None

        self.switch = QCheckBox("Serve the models to other programs")
        self.switch.setObjectName("serverSwitch")
        self.switch.toggled.connect(self._switched)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("any free")
        self.port.setValue(int(get_setting(context.db, "api.port", DEFAULT_PORT)))
        self.access = QComboBox()
        for text, host in ACCESS:
            self.access.addItem(text, host)
        self.access.setCurrentIndex(1 if get_setting(context.db, "api.host", "127.0.0.1") != "127.0.0.1" else 0)
        self.key = QLineEdit(get_setting(context.db, "api.key", "") or "")
        self.key.setPlaceholderText("API key (optional on this computer)")
        self.new_key_button = QPushButton("New key")
        self.new_key_button.clicked.connect(lambda: self.key.setText(secrets.token_urlsafe(24)))
        self.record = QCheckBox("Keep API conversations in the history")
        self.record.setChecked(bool(get_setting(context.db, "api.record", False)))

        self.address = QLabel("Off")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy address")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._copy_address)
        self.counter = QLabel("No requests yet")
        self.message = QLabel()
        self.message.setWordWrap(True)

        self.log_model = RequestLogModel(self)
        self.table = QTableView()
        self.table.setModel(self.log_model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setMaximumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        settings = QGridLayout()
        settings.addWidget(self.switch, 0, 0, 1, 2)
        settings.addWidget(QLabel("Port"), 0, 2)
        settings.addWidget(self.port, 0, 3)
        settings.addWidget(QLabel("Reachable from"), 0, 4)
        settings.addWidget(self.access, 0, 5)
        settings.addWidget(self.record, 1, 0, 1, 2)
        settings.addWidget(QLabel("API key"), 1, 2)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.new_key_button)
        settings.addLayout(key_row, 1, 3, 1, 3)
        settings.setColumnStretch(1, 1)
        address_row = QHBoxLayout()
        address_row.addWidget(self.address, 1)
        address_row.addWidget(self.copy_button)
        address_row.addWidget(self.counter)
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addLayout(address_row)
        layout.addWidget(self.message)
        layout.addWidget(self.table)
        self._show("")

    # -- the server ------------------------------------------------------------------------------
    def controller(self):
        controller = self.context.services.get(SERVICE)
        if controller is None:
            from desktop.server import ServerController

            controller = ServerController(registry=self.context.registry, db=self.context.db)
            self.context.services[SERVICE] = controller
        if not self._subscribed:
            controller.log.subscribe(self._listener)
            self._subscribed = True
        return controller

    def is_running(self) -> bool:
        controller = self.context.services.get(SERVICE)
        return bool(controller and controller.running)

    def config(self):
        from desktop.server import ServerConfig

        host = self.access.currentData()
        key = self.key.text().strip() or None
        if host != "127.0.0.1" and key is None:
            key = secrets.token_urlsafe(24)
            self.key.setText(key)
        return ServerConfig(host=host, port=self.port.value(), api_key=key, record=self.record.isChecked(),
                            speculative=prompt_lookup(self.context.db))

    def start(self) -> BackgroundOp:
        config = self.config()
        db = self.context.db
        set_setting(db, "api.port", config.port)
        set_setting(db, "api.host", config.host)
        set_setting(db, "api.key", config.api_key or "")
        set_setting(db, "api.record", config.record)
        self._busy(True, "Starting the server…")
        self.op = (BackgroundOp(self.controller().start, config).success(self._started).failure(self._start_failed)
                   .run_in_background())
        return self.op

    def stop(self) -> BackgroundOp:
        self._busy(True, "Stopping the server…")
        self.op = BackgroundOp(self.controller().stop).success(self._stopped).failure(self._stop_failed)
        return self.op.run_in_background()

    def shutdown(self) -> None:
        controller = self.context.services.get(SERVICE)
        if controller is not None:
            controller.log.unsubscribe(self._listener)
            controller.stop(timeout=5)

    # -- reactions -------------------------------------------------------------------------------
    def _switched(self, on: bool) -> None:
        if on and not self.is_running():
            self.start()
        elif not on and self.is_running():
            self.stop()

    def _busy(self, busy: bool, text: str = "") -> None:
        self.switch.setEnabled(not busy)
        for widget in (self.port, self.access, self.key, self.new_key_button, self.record):
            widget.setEnabled(not busy and not self.is_running())
        self._show(text)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _started(self, address: str) -> None:
        self._busy(False)
        key = " — send the API key as 'Authorization: Bearer …'" if self.controller().config.api_key else ""
        self.address.setText(f"Running at <b>{address}</b>{key}")
        self.copy_button.setEnabled(True)

    def _start_failed(self, message: str) -> None:
        self.switch.blockSignals(True)
        self.switch.setChecked(False)
        self.switch.blockSignals(False)
        self._busy(False)
        self.address.setText("Off")
        self._show(f"The server could not start: {message}", error=True)

    def _stopped(self, _=None) -> None:
        self._busy(False)
        self.address.setText("Off")
        self.copy_button.setEnabled(False)

    def _stop_failed(self, message: str) -> None:
        self._busy(False)
        self._show(f"The server did not stop cleanly: {message}", error=True)

    def _copy_address(self) -> None:
        controller = self.context.services.get(SERVICE)
        if controller and controller.address:
            QGuiApplication.clipboard().setText(controller.address)

    def _record_added(self, record) -> None:
        self.log_model.add(record)
        for column in range(len(COLUMNS) - 1):  # the last one (the outcome) takes the rest, elided
            self.table.resizeColumnToContents(column)
        self.handled += 1
        self.counter.setText(f"{self.handled} request{'s' if self.handled != 1 else ''} handled")
