"""Checking GGUF files before anything native opens them: header, data, adapters."""
from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError
from models.gguf_check import check_adapter_fits, check_data, check_gguf, read_header


def write_gguf(path: Path, arch: str = "llama", tensors: dict | None = None, kind: str = "model") -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(kind)
    writer.add_context_length(256)
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(200)])  # long: skipped by the reader
    for name, array in (tensors or {"blk.0.attn_q.weight": np.ones((8, 4), dtype=np.float32)}).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_header_is_read_without_the_long_arrays(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    header = read_header(path)
    assert header.architecture == "llama" and header.metadata["llama.context_length"] == 256
    assert header.metadata["tokenizer.ggml.tokens"] is None  # skipped, not read
    assert [t.name for t in header.tensors] == ["blk.0.attn_q.weight"] and header.tensors[0].shape == (4, 8)
    assert header.parameters() == 32
    check_data(path, header)


def test_a_file_cut_short_is_refused_with_a_sentence(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", tensors={"w": np.ones((64, 64), dtype=np.float32)})
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    with pytest.raises(ModelError, match="incomplete.*cut short"):
        check_gguf(path, in_child=False)
    path.write_bytes(data[:40])
    with pytest.raises(ModelError, match="ends inside its header"):
        read_header(path)


def test_not_a_gguf_and_an_unknown_version(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("hello, this is text")
    with pytest.raises(ModelError, match="not a GGUF file"):
        read_header(path)
    path.write_bytes(b"GGUF" + (99).to_bytes(4, "little") + bytes(16))
    with pytest.raises(ModelError, match="version 99"):
        read_header(path)


def test_an_adapter_is_not_a_model_and_must_fit_its_base(tmp_path):
    base = write_gguf(tmp_path / "base.gguf", tensors={"blk.0.attn_q.weight": np.ones((16, 8), dtype=np.float32)})
    good = write_gguf(tmp_path / "good.gguf", kind="adapter", tensors={
        "blk.0.attn_q.weight.lora_a": np.ones((2, 8), dtype=np.float32),
        "blk.0.attn_q.weight.lora_b": np.ones((16, 2), dtype=np.float32)})
    other = write_gguf(tmp_path / "other.gguf", kind="adapter", tensors={
        "blk.0.attn_q.weight.lora_a": np.ones((2, 12), dtype=np.float32),
        "blk.0.attn_q.weight.lora_b": np.ones((16, 2), dtype=np.float32)})
    check_adapter_fits(good, base)
    with pytest.raises(ModelError, match="made for another model"):
        check_adapter_fits(other, base)
    with pytest.raises(ModelError, match="is a LoRA adapter, not a model"):
        check_gguf(good, in_child=False)


def test_prompt_lookup_proposes_what_followed_the_last_ngram():
    from models.generation.llama_engine import PromptLookup

    lookup = PromptLookup([5, 6, 7, 8, 9, 1, 2, 5, 6])
    assert lookup.draft() == [7, 8, 9, 1, 2, 5, 6]  # after the earlier (5, 6)
    lookup.add(7)
    assert lookup.draft() == [8, 9, 1, 2, 5, 6, 7]  # after the earlier (5, 6, 7)
    assert PromptLookup([1, 2, 3]).draft() == []
    lookup.checked(drafted=7, accepted=0)
    assert len(lookup.draft()) == 4  # refused drafts get shorter
    lookup.checked(drafted=4, accepted=4)
    assert len(lookup.draft()) == 7
