from pathlib import Path

import pytest

from models import bundled
from models.errors import ModelError
from models.registry import Registry
from tests.tiny_models import make_tiny_bert, make_tiny_causal_lm


@pytest.fixture
def registry(fireside_home):
    return Registry()


def names(registry):
    return [e.name for e in registry.list()]


def test_bundled_models_are_listed_with_metadata(registry):
    entries = {e.name: e for e in registry.list()}
    chat = entries[bundled.CHAT_NAME]
    encoder = entries[bundled.ENCODER_NAME]
    assert (chat.kind, chat.source, chat.architecture) == ("chat", "bundled", "LlamaForCausalLM")
    assert chat.size_bytes > 50_000_000 and chat.original_file.endswith(".gguf")
    assert (encoder.kind, encoder.architecture) == ("encoder", "BertModel")
    assert 20_000_000 < encoder.parameters < 25_000_000


def test_import_folder_records_kind_and_parameters(registry, tmp_path):
    folder = make_tiny_causal_lm(tmp_path / "tiny-llama")
    entry = registry.import_folder(folder, name="Tiny")
    assert entry.kind == "chat" and entry.source == "folder"
    assert entry.parameters > 0
    assert Registry().get("Tiny").path == str(folder.resolve())


def test_import_classifier_keeps_labels(registry, tmp_path):
    folder = make_tiny_bert(tmp_path / "tiny-cls", num_labels=3)
    entry = registry.import_folder(folder)
    assert entry.kind == "classifier"
    assert entry.labels == ["LABEL_0", "LABEL_1", "LABEL_2"]


def test_duplicate_name_is_refused_and_registry_unchanged(registry, tmp_path):
    registry.import_folder(make_tiny_bert(tmp_path / "a"), name="Same")
    before = names(registry)
    with pytest.raises(ModelError, match="already exists"):
        registry.import_folder(make_tiny_bert(tmp_path / "b"), name="Same")
    assert names(registry) == before


@pytest.mark.parametrize("damage, message", [
    ("no_config", "no config.json"),
    ("no_weights", "no weights"),
    ("no_tokenizer", "no tokenizer"),
    ("pickle_only", "pickled"),
    ("bad_config", "unreadable config.json"),
])
def test_bad_folders_give_one_line_errors(registry, tmp_path, damage, message):
    folder = make_tiny_bert(tmp_path / "m")
    if damage == "no_config":
        (folder / "config.json").unlink()
    elif damage == "no_weights":
        (folder / "model.safetensors").unlink()
    elif damage == "no_tokenizer":
        for name in ("tokenizer.json", "vocab.txt"):
            (folder / name).unlink()
    elif damage == "pickle_only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "bad_config":
        (folder / "config.json").write_text("{not json")
    before = names(registry)
    with pytest.raises(ModelError, match=message) as info:
        registry.import_folder(folder)
    assert "\n" not in str(info.value)
    assert str(folder) in str(info.value)
    assert names(registry) == before


def test_pickle_allowed_when_asked(registry, tmp_path):
    folder = make_tiny_bert(tmp_path / "m")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    assert registry.import_folder(folder, allow_pickle=True).name == "m"


def test_foreign_and_truncated_gguf_are_refused(registry, tmp_path):
    foreign = tmp_path / "notes.gguf"
    foreign.write_text("just some text")
    with pytest.raises(ModelError, match="not a GGUF file"):
        registry.import_gguf(foreign)
    real = bundled.locate().chat_gguf
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(real.read_bytes()[:2_000_000])
    before = names(registry)
    with pytest.raises(ModelError, match="incomplete.*cut short"):
        registry.import_gguf(truncated)
    assert names(registry) == before
    assert not (registry.root / "cut").exists()


def test_remove_keeps_bundled_and_source_folder(registry, tmp_path):
    folder = make_tiny_bert(tmp_path / "m")
    registry.import_folder(folder, name="Mine")
    registry.remove("Mine")
    assert "Mine" not in names(registry)
    assert (folder / "model.safetensors").exists()
    with pytest.raises(ModelError, match="bundled"):
        registry.remove(bundled.CHAT_NAME)


def test_damaged_metadata_file_does_not_break_listing(registry, tmp_path):
    registry.import_folder(make_tiny_bert(tmp_path / "m"), name="Good")
    broken = registry.root / "broken"
    broken.mkdir()
    (broken / "fireside-model.json").write_text("{")
    assert "Good" in names(registry)


def test_failed_download_leaves_nothing_behind(registry, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    seen = {}

    def no_network(repo_id, local_dir, allow_patterns):
        seen["offline_during_download"] = constants.HF_HUB_OFFLINE
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "config.json").write_text("{}")
        raise OSError("Name or service not known\nsecond line of detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = names(registry)
    with pytest.raises(ModelError, match="download failed") as info:
        registry.download("someone/some-model")
    assert "\n" not in str(info.value)
    assert seen["offline_during_download"] is False
    assert constants.HF_HUB_OFFLINE is True  # offline again afterwards
    assert names(registry) == before
    assert not (registry.root / "some-model").exists()


def test_an_imported_gguf_converted_by_an_earlier_version_loads_in_place_again(registry, tmp_path):
    import json

    from models.registry import ModelEntry

    original = tmp_path / "mine.gguf"
    original.write_bytes(bundled.locate().chat_gguf.read_bytes())
    folder = registry.root / "mine"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "model.safetensors").write_bytes(b"float copy")
    old = ModelEntry(name="mine", kind="chat", architecture="LlamaForCausalLM", parameters=1, size_bytes=1,
                     source="gguf", path=str(folder / "weights"), created="", original_file=str(original))
    (folder / "fireside-model.json").write_text(json.dumps(old.to_dict()))
    (registry.root / "_converted" / bundled.CHAT_NAME).mkdir(parents=True)

    entry = registry.get("mine")
    assert entry.path == str(original) and not (folder / "weights").exists()
    assert json.loads((folder / "fireside-model.json").read_text())["path"] == str(original)
    assert bundled.remove_legacy_cache() >= 0 and not (registry.root / "_converted").exists()
