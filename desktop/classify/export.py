"""Write a classifier's results as CSV or JSON Lines (no Qt)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

FIELDS = ("document", "path", "row", "label", "predicted_label", "score", "runner_up", "runner_up_score",
          "corrected", "status", "error")


def export_rows(results: list[dict], labels: list[str]) -> list[dict]:
    rows = []
    for r in results:
        row = {
            "document": r["name"], "path": r["source"], "row": r["row_key"] or "",
            "label": r["corrected_label"] or r["label"] or "", "predicted_label": r["label"] or "",
            "score": r["score"], "runner_up": r["runner_up"] or "", "runner_up_score": r["runner_up_score"],
            "corrected": bool(r["corrected_label"]), "status": r["status"], "error": r["error"] or "",
        }
        row["scores"] = {label: r["scores"].get(label) for label in labels} if r["scores"] else {}
        rows.append(row)
    return rows


def write_csv(path: Path, results: list[dict], labels: list[str]) -> int:
    rows = export_rows(results, labels)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FIELDS, *(f"score:{label}" for label in labels)])
        for row in rows:
            scores = row["scores"]
            writer.writerow([
                *("" if row[f] is None else (f"{row[f]:.4f}" if isinstance(row[f], float) else row[f]) for f in FIELDS),
                *("" if scores.get(label) is None else f"{scores[label]:.4f}" for label in labels),
            ])
    return len(rows)


def write_jsonl(path: Path, results: list[dict], labels: list[str]) -> int:
    rows = export_rows(results, labels)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def export_results(path: Path, results: list[dict], labels: list[str]) -> int:
    """CSV or JSONL by the file's extension (.jsonl/.json → JSON Lines); returns the rows written."""
    path = Path(path)
    writer = write_jsonl if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else write_csv
    return writer(path, results, labels)
