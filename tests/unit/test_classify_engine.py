"""The classification engine on tiny models built from a config: windows, batching, the three
methods, build_classifier, occlusion, precision."""
import numpy as np
import pytest

from models.classify import (
    Cancelled, FewShotClassifier, FineTunedClassifier, Prediction, RunControl, ZeroShotClassifier, build_classifier,
    explain,
)
from models.classify.batching import pad, sorted_batches
from models.classify.encoder import Encoder
from models.classify.windows import aggregate, cut_windows
from models.errors import ModelError
from models.registry import Registry
from tests.tiny_models import make_tiny_bert, make_tiny_causal_lm

LABELS = ["Sports", "Business", "Science"]


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="module")
def tiny_encoder(tiny_encoder_dir):
    return Encoder.load(tiny_encoder_dir, device="cpu", precision="fp32")


def test_sorted_batches_cover_every_index_once_within_the_budget():
    lengths = [5, 300, 17, 17, 40, 2, 250, 9] * 20
    batches = list(sorted_batches(lengths, max_tokens=1024, max_batch=16))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 16 and max(lengths[i] for i in batch) * len(batch) <= max(1024, max(lengths))
    assert [lengths[i] for i in flat] == sorted(lengths)
    ids, mask = pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_windows_overlap_and_keep_their_place(tiny_encoder):
    tokenizer = tiny_encoder.tokenizer
    words = [f"word{i % 50}" for i in range(700)]
    text = " ".join(words)
    windows = cut_windows(tokenizer, [text, "short one", ""], max_length=64, overlap=8, max_windows=100)
    long = [w for w in windows if w.text_index == 0]
    assert len(long) > 5
    for window in long:
        assert len(window.ids) <= 64
        assert window.ids[0] == tokenizer.cls_token_id and window.ids[-1] == tokenizer.sep_token_id
    for first, second in zip(long, long[1:]):
        assert first.start < second.start < first.end  # overlapping, in order
    assert long[0].start == 0 and long[-1].end == len(text)
    short = [w for w in windows if w.text_index == 1]
    assert len(short) == 1 and text  # one window
    assert [w for w in windows if w.text_index == 2][0].ids == [tokenizer.cls_token_id, tokenizer.sep_token_id]
    capped = cut_windows(tokenizer, [text], max_length=64, overlap=8, max_windows=3)
    assert len(capped) == 3


def test_aggregate_averages_windows_and_keeps_the_strongest_as_evidence(tiny_encoder):
    texts = ["aaa bbb ccc ddd", "zzz"]
    windows = cut_windows(tiny_encoder.tokenizer, texts, max_length=4, overlap=0)
    probabilities = np.array([[0.6, 0.4], [0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.3, 0.7]][:len(windows)])
    predictions = aggregate(texts, windows, probabilities, ["A", "B"])
    first = predictions[0]
    rows = [i for i, w in enumerate(windows) if w.text_index == 0]
    assert first.windows == len(rows)
    expected = probabilities[rows].mean(axis=0)
    assert first.scores == pytest.approx({"A": expected[0], "B": expected[1]})
    assert first.label == ("A" if expected[0] > expected[1] else "B")
    strongest = windows[rows[int(probabilities[rows, ["A", "B"].index(first.label)].argmax())]]
    assert first.evidence == texts[0][strongest.start:strongest.end]


def test_zero_shot_predicts_probabilities(tiny_encoder):
    classifier = ZeroShotClassifier(tiny_encoder, LABELS, {"Sports": "games and matches"})
    predictions = classifier.predict(["The match ended in a draw.", "Shares fell.", "x " * 2000])
    assert len(predictions) == 3
    for prediction in predictions:
        assert isinstance(prediction, Prediction) and prediction.label in LABELS
        assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.score == max(prediction.scores.values())
        assert prediction.runner_up[0] != prediction.label
    assert predictions[2].windows > 1 and predictions[2].evidence
    assert classifier.predict([]) == []
    with pytest.raises(ValueError, match="at least two labels"):
        ZeroShotClassifier(tiny_encoder, ["Only"])
    with pytest.raises(ValueError, match="different"):
        ZeroShotClassifier(tiny_encoder, ["A", "A"])


def test_zero_shot_calibration_fits_a_temperature(tiny_encoder):
    classifier = ZeroShotClassifier(tiny_encoder, ["A", "B"])
    texts = [f"alpha sample {i}" for i in range(6)] + [f"beta {i} other words here" for i in range(6)]
    temperature = classifier.calibrate(texts, ["A"] * 6 + ["B"] * 6)
    assert 0.005 <= temperature <= 0.5


def test_few_shot_learns_examples_and_estimates_accuracy(tiny_encoder):
    examples = ([{"text": f"football match goal team {i}", "label": "Sports"} for i in range(6)]
                + [{"text": f"bank shares profit market {i}", "label": "Business"} for i in range(6)]
                + [{"text": f"planet telescope experiment {i}", "label": "Science"} for i in range(6)])
    classifier = FewShotClassifier(tiny_encoder, LABELS, examples)
    assert classifier.example_count == 18 and classifier.folds == 5
    assert 0.0 <= classifier.accuracy <= 1.0
    predictions = classifier.predict([e["text"] for e in examples])
    training_accuracy = np.mean([p.label == e["label"] for p, e in zip(predictions, examples)])
    assert training_accuracy >= 0.9
    assert "few-shot on 18 examples" in classifier.describe()
    one_each = FewShotClassifier(tiny_encoder, LABELS, [("a goal", "Sports"), ("a bank", "Business")])
    assert one_each.accuracy is None and one_each.examples_per_label["Science"] == 0
    assert one_each.predict(["anything"])[0].label in LABELS  # a label without examples is still possible
    with pytest.raises(ValueError, match="needs labelled examples"):
        FewShotClassifier(tiny_encoder, LABELS, [("text", "Unknown label")])


def test_cancelling_stops_between_batches(tiny_encoder):
    classifier = ZeroShotClassifier(tiny_encoder, LABELS)
    seen = []
    control = RunControl(on_progress=lambda done, total: seen.append(done), cancelled=lambda: len(seen) >= 1)
    with pytest.raises(Cancelled):
        classifier.predict([f"text number {i} " * (i % 40 + 1) for i in range(400)], control)
    assert len(seen) == 1


def test_fine_tuned_classifier_reads_its_labels(tmp_path):
    folder = make_tiny_bert(tmp_path / "tiny-cls", num_labels=3)
    import json

    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "neg", "1": "neu", "2": "pos"}
    config["label2id"] = {"neg": 0, "neu": 1, "pos": 2}
    (folder / "config.json").write_text(json.dumps(config))
    classifier = FineTunedClassifier.load(folder, device="cpu")
    assert classifier.labels == ["neg", "neu", "pos"] and classifier.precision == "int8"
    predictions = classifier.predict(["fine", "word " * 300])
    assert all(p.label in classifier.labels for p in predictions)
    assert predictions[1].windows > 1
    assert sum(predictions[0].scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_build_classifier_for_each_method(tmp_path, tiny_encoder_dir):
    registry = Registry(tmp_path / "models")
    registry.import_folder(tiny_encoder_dir, name="tiny-encoder")
    registry.register(make_tiny_bert(tmp_path / "tiny-cls", num_labels=2), name="tiny-classifier", kind="classifier",
                      labels=["LABEL_0", "LABEL_1"])
    make_tiny_causal_lm(tmp_path / "tiny-chat")
    registry.import_folder(tmp_path / "tiny-chat", name="tiny-chat")
    zero = build_classifier({"labels": LABELS, "method": "zero-shot", "model": "tiny-encoder"}, registry)
    assert isinstance(zero, ZeroShotClassifier) and zero.encoder.name == "tiny-encoder"
    few = build_classifier({"labels": LABELS, "method": "few-shot", "model": "tiny-encoder",
                            "examples": [{"text": "goal", "label": "Sports"}, {"text": "bank", "label": "Business"}]},
                           registry)
    assert isinstance(few, FewShotClassifier)
    tuned = build_classifier({"labels": [], "method": "fine-tuned", "model": "tiny-classifier"}, registry)
    assert tuned.labels == ["LABEL_0", "LABEL_1"] and tuned.predict(["x"])[0].label in tuned.labels
    with pytest.raises(ValueError, match="unknown method"):
        build_classifier({"labels": LABELS, "method": "magic", "model": "tiny-encoder"}, registry)
    with pytest.raises(ValueError, match="knows the labels"):
        build_classifier({"labels": ["a", "b"], "method": "fine-tuned", "model": "tiny-classifier"}, registry)
    with pytest.raises(ModelError, match="not a fine-tuned classifier"):
        build_classifier({"labels": LABELS, "method": "fine-tuned", "model": "tiny-encoder"}, registry)
    with pytest.raises(ModelError, match="chat model"):
        build_classifier({"labels": LABELS, "method": "zero-shot", "model": "tiny-chat"}, registry)


def test_occlusion_weights_words(tiny_encoder):
    classifier = ZeroShotClassifier(tiny_encoder, LABELS)
    text = "The striker scored a late goal, and the crowd cheered."
    explanation = explain(classifier, text, "Sports")
    assert explanation.label == "Sports"
    assert [text[s:e] for s, e, _ in explanation.spans][:3] == ["The", "striker", "scored"]
    weights = [w for _, _, w in explanation.spans]
    assert max(abs(w) for w in weights) == pytest.approx(1.0)
    long = " ".join(f"w{i}" for i in range(500))
    grouped = explain(classifier, long)
    assert len(grouped.spans) <= 48 and grouped.label in LABELS


def test_precision_choice(tiny_encoder_dir, monkeypatch):
    from models.classify.precision import choose_precision

    assert choose_precision("cpu") == "int8" and choose_precision("cuda") == "fp16"
    assert choose_precision("mps") == "fp32" and choose_precision("cpu", "bf16") == "bf16"
    monkeypatch.setenv("FIRESIDE_CLASSIFY_PRECISION", "fp32")
    assert choose_precision("cpu") == "fp32"
    with pytest.raises(ValueError):
        choose_precision("cpu", "int3")
    monkeypatch.delenv("FIRESIDE_CLASSIFY_PRECISION")
    quantized = Encoder.load(tiny_encoder_dir, device="cpu")
    plain = Encoder.load(tiny_encoder_dir, device="cpu", precision="fp32")
    assert quantized.precision == "int8"
    texts = ["a sentence about football", "another about money"]
    a, b = quantized.embed(texts), plain.embed(texts)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert (a * b).sum(axis=1).min() > 0.9  # int8 moves embeddings only a little
