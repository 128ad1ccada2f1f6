"""The frozen versions of a dataset and the models trained from each."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from desktop.store import Database
from desktop.store import datasets as store

COLUMNS = ("Version", "Rows", "Frozen", "Trained models", "Note")


class VersionsView(QWidget):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.dataset: dict | None = None
        self.freeze_button = QPushButton("Freeze this version")
        self.freeze_button.setToolTip("Keep a copy of the rows as they are now; fine-tuning freezes one by itself")
        explanation = QLabel("A model is trained on a frozen copy of the dataset, so later edits never change what "
                             "it learnt from. Each version is named by the hash of its rows.")
        explanation.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(explanation, 1)
        top.addWidget(self.freeze_button)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setColumnWidth(0, 220)
        self.tree.setColumnWidth(1, 80)
        self.tree.setColumnWidth(2, 150)
        self.tree.setColumnWidth(3, 260)
        self.empty = QLabel("No versions yet: none has been frozen and no model has been trained on this dataset.")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.empty)
        layout.addWidget(self.tree, 1)

    def set_dataset(self, dataset: dict | None) -> None:
        self.dataset = dataset
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        versions = store.dataset_versions(self.db, self.dataset["id"]) if self.dataset else []
        for version in versions:
            jobs = version["jobs"]
            trained = ", ".join(j["model_name"] or j["id"] for j in jobs) if jobs else "—"
            rows = f"{version['row_count']:,}" if version["row_count"] is not None else "?"
            item = QTreeWidgetItem([version["snapshot_hash"][:16], rows, (version["created"] or "")[:16].replace("T", " "),
                                    trained, version["note"] or ""])
            item.setToolTip(0, f"sha256 {version['snapshot_hash']}\n{version['path'] or ''}")
            for job in jobs:
                child = QTreeWidgetItem([f"job {job['id']}", "", (job["created"] or "")[:16].replace("T", " "),
                                         f"{job['model_name'] or '(no model yet)'} — {job['status']}", ""])
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        self.empty.setVisible(not versions)
        self.tree.setVisible(bool(versions))
