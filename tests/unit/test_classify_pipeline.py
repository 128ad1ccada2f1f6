"""Many documents through the pipeline with a tiny model: bad files become rows, the rest go on."""
import time

import pytest

from models.classify import ZeroShotClassifier
from models.classify.encoder import Encoder
from models.classify.pipeline import Source, classify_sources, sources_from_paths
from tests.classify_files import make_mixed_folder
from tests.tiny_models import make_tiny_bert


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    encoder = Encoder.load(make_tiny_bert(tmp_path_factory.mktemp("tiny")), device="cpu")
    return ZeroShotClassifier(encoder, ["World", "Sports", "Business", "Sci/Tech"])


def test_mixed_folder_every_file_a_row(tmp_path, classifier):
    expected = make_mixed_folder(tmp_path / "docs")
    (tmp_path / "docs" / "table.csv").write_text("id,body\nr1,first row text\nr2,\nr3,third row\n")
    sources, failed, found = sources_from_paths([tmp_path / "docs"], columns_by_path={
        str(tmp_path / "docs" / "table.csv"): "body"}, id_column="id")
    assert found.unsupported == 1 and not failed
    outcomes = []
    summary = classify_sources(classifier, sources, outcomes.extend)
    by_name = {o.source.name: o for o in outcomes}
    for name, topic in expected.items():
        outcome = by_name[f"docs/{name}"]
        if topic == "error":
            assert outcome.error and outcome.prediction is None, name
        else:
            assert outcome.error is None and outcome.prediction.label in classifier.labels, name
    assert by_name["docs/table.csv · r1"].text == "first row text"
    assert by_name["docs/table.csv · r2"].error == "has no text"
    assert summary.total == len(sources) == 10 and summary.failed == 4 and summary.classified == 6
    assert not summary.cancelled and "4 could not be read" in summary.text()


def test_a_file_vanishing_mid_run(tmp_path, classifier):
    for index in range(6):
        (tmp_path / f"{index}.txt").write_text(f"document number {index}")
    sources, _, _ = sources_from_paths([tmp_path])
    outcomes = []

    def chunk_done(chunk):
        outcomes.extend(chunk)
        (tmp_path / "5.txt").unlink(missing_ok=True)  # gone before its chunk is read

    summary = classify_sources(classifier, sources, chunk_done, chunk_size=2)
    assert [o.error for o in outcomes] == [None] * 5 + ["no longer exists (moved or deleted)"]
    assert summary.classified == 5 and summary.failed == 1


def test_cancel_keeps_what_was_done(tmp_path, classifier):
    sources = [Source(path="", name=str(i), text=f"text {i}") for i in range(200)]
    outcomes, progress = [], []
    summary = classify_sources(classifier, sources, outcomes.extend, progress.append,
                               cancelled=lambda: len(outcomes) >= 64, chunk_size=64)
    assert summary.cancelled and summary.classified == 64 == len(outcomes)
    assert progress[-1].done == 64 and progress[-1].total == 200
    assert summary.text().startswith("Stopped after 64 of 200 documents")


def test_ten_thousand_files_in_one_folder(tmp_path, classifier):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(10_000):
        (folder / f"{index:05d}.txt").write_bytes(b"a short note about the weather" if index % 500 else b"")
    started = time.perf_counter()
    sources, _, found = sources_from_paths([folder])
    chunks = []
    summary = classify_sources(classifier, sources, lambda outcomes: chunks.append(len(outcomes)), chunk_size=500)
    assert len(found.files) == 10_000 and sum(chunks) == 10_000
    assert summary.classified == 9_980 and summary.failed == 20
    print(f"10,000 files in {time.perf_counter() - started:.1f} s")
