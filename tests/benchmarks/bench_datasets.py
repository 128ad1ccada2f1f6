"""Datasets at 100,000 rows: import and table paging against plain SQLite references in the same run.

    .venv/bin/python -m pytest tests/benchmarks/bench_datasets.py -s
"""
import json
import random
import time

from desktop.datasets.table_model import DatasetRowsModel
from desktop.store import Database
from desktop.store import datasets as store

ROWS = 100_000
VISIBLE = 30


def _rows():
    return [{"text": f"Review {i}: the product {'works' if i % 3 else 'broke'} after {i % 90} days.", "label": "abc"[i % 3]}
            for i in range(ROWS)]


def test_import_and_paging(qtbot, tmp_path):
    rows = _rows()
    db = Database(tmp_path / "bench.db")

    started = time.perf_counter()
    dataset = store.import_rows(db, "bench", "classification", rows)
    ours_import = time.perf_counter() - started

    # Reference: the same payloads with a bare executemany, no checks, no search text.
    db.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, payload TEXT)")
    started = time.perf_counter()
    with db.transaction() as conn:
        conn.executemany("INSERT INTO plain(payload) VALUES (?)", ((json.dumps(r),) for r in rows))
    plain_import = time.perf_counter() - started

    model = DatasetRowsModel(db)
    started = time.perf_counter()
    model.set_dataset(dataset["id"], "classification")
    reload_seconds = time.perf_counter() - started

    rng = random.Random(0)
    starts = [rng.randrange(0, ROWS - VISIBLE) for _ in range(200)]

    def show_window(start):
        for row in range(start, start + VISIBLE):
            for column in range(model.columnCount()):
                model.index(row, column).data()

    started = time.perf_counter()
    for start in starts:
        model._pages.clear()  # every jump is a cold read
        show_window(start)
    ours_window = (time.perf_counter() - started) / len(starts)

    # Reference: what a LIMIT/OFFSET model would run for the same jumps.
    started = time.perf_counter()
    for start in starts:
        db.query("SELECT id, payload, split FROM dataset_rows WHERE dataset_id = ? ORDER BY id LIMIT ? OFFSET ?",
                 (dataset["id"], VISIBLE, start))
    offset_window = (time.perf_counter() - started) / len(starts)

    print(f"\nimport {ROWS:,} rows: {ours_import:.2f} s (bare executemany {plain_import:.2f} s, "
          f"ratio {ours_import / plain_import:.1f}x)")
    print(f"load ids for the table: {reload_seconds * 1000:.0f} ms")
    print(f"jump to a random screen, cold: {ours_window * 1000:.1f} ms "
          f"(LIMIT/OFFSET query alone {offset_window * 1000:.1f} ms, ratio {ours_window / offset_window:.2f}x)")
    db.close()
