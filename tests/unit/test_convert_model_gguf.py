"""Transformers folders written as GGUF: llama.cpp must compute what transformers computes."""
import errno

import numpy as np
import pytest

from models.convert.model_gguf import supported_architecture, write_model_gguf
from models.errors import ModelError
from tests.convert_support import (TOKEN_IDS, bundled_gguf, bundled_tokenizer_metadata, leftovers, llama_cpp_logits,
                                   load_model, make_tiny_model, transformers_logits, write_bundled_tokenizer_files,
                                   write_tiny_gguf)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny llama folder and its F32 GGUF (tokenizer from the bundled model)."""
    folder = tmp_path_factory.mktemp("tiny")
    hf_dir = make_tiny_model(folder / "hf")
    return hf_dir, write_tiny_gguf(hf_dir, folder / "tiny.gguf")


def test_llama_gguf_computes_the_same_logits_as_transformers(tiny):
    pytest.importorskip("llama_cpp")
    hf_dir, gguf_file = tiny
    expected = transformers_logits(load_model(hf_dir))
    assert np.abs(llama_cpp_logits(gguf_file) - expected).max() < 1e-4  # names and q/k row order right


def test_full_finetune_is_written_with_the_base_metadata(tiny, tmp_path):
    pytest.importorskip("llama_cpp")
    from models.convert.gguf_file import open_gguf

    _, base_file = tiny
    tuned = make_tiny_model(tmp_path / "tuned", seed=7)
    out = write_model_gguf(tuned, tmp_path / "tuned.gguf", base_gguf=base_file)
    written = open_gguf(out)
    assert written.metadata(skip=("general.", "llama.")) == list(bundled_tokenizer_metadata())
    assert written.hparam("attention.head_count_kv") == 2 and written.block_count == 2
    types = {name: t.tensor_type.name for name, t in written.tensors.items()}
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.0.attn_norm.weight"] == "F32"
    assert written.file_type == 1  # MOSTLY_F16
    assert len(types) == 3 + 2 * 9  # embeddings, output norm, output layer, then 9 tensors a layer
    difference = np.abs(llama_cpp_logits(out) - transformers_logits(load_model(tuned)))
    assert difference.max() < 2e-3  # F16 weights


def test_model_with_its_own_tokenizer_files(tmp_path):
    pytest.importorskip("llama_cpp")
    import llama_cpp
    from transformers import AutoTokenizer

    bundled_gguf()
    hf_dir = make_tiny_model(tmp_path / "hf")
    write_bundled_tokenizer_files(hf_dir)
    out = write_model_gguf(hf_dir, tmp_path / "model.gguf", outtype="F32")
    text = "Hello world, how are you?<|im_end|> naïve 😀  spaces\n\nnext"
    expected = AutoTokenizer.from_pretrained(hf_dir)(text)["input_ids"]
    llm = llama_cpp.Llama(model_path=str(out), vocab_only=True, verbose=False)
    try:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == expected
        assert llm.metadata["tokenizer.ggml.pre"] == "gpt-2"
        assert "<|im_start|>" in llm.metadata["tokenizer.chat_template"]
    finally:
        llm.close()
    assert np.abs(llama_cpp_logits(out) - transformers_logits(load_model(hf_dir))).max() < 1e-4


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "gemma"])
def test_other_architectures_compute_the_same_logits(kind, tmp_path):
    pytest.importorskip("llama_cpp")
    hf_dir = make_tiny_model(tmp_path / kind, kind=kind)
    gguf_file = write_tiny_gguf(hf_dir, tmp_path / f"{kind}.gguf")
    expected = transformers_logits(load_model(hf_dir))
    assert np.abs(llama_cpp_logits(gguf_file) - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())


def test_llama3_rope_scaling_and_attention_biases_are_carried_over(tmp_path):
    pytest.importorskip("llama_cpp")
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 16}
    hf_dir = make_tiny_model(tmp_path / "hf", rope_scaling=scaling, rope_theta=500000.0, attention_bias=True)
    gguf_file = write_tiny_gguf(hf_dir, tmp_path / "rope.gguf")
    ids = list(range(100, 140))
    expected = transformers_logits(load_model(hf_dir), ids)
    assert np.abs(llama_cpp_logits(gguf_file, ids) - expected).max() < 1e-4


def test_bfloat16_weights_stay_bfloat16(tiny, tmp_path):
    pytest.importorskip("llama_cpp")
    import torch

    from models.convert.gguf_file import open_gguf

    hf_dir, base_file = tiny
    model = load_model(hf_dir).to(torch.bfloat16)
    model.save_pretrained(tmp_path / "bf16")
    out = write_model_gguf(tmp_path / "bf16", tmp_path / "bf16.gguf", base_gguf=base_file)
    written = open_gguf(out)
    assert written.tensors["blk.0.ffn_gate.weight"].tensor_type.name == "BF16" and written.file_type == 32
    expected = transformers_logits(model.float())
    assert np.abs(llama_cpp_logits(out) - expected).max() < 2e-3


def test_supported_architecture_says_why_not():
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
              "num_attention_heads": 2, "vocab_size": 10}
    assert supported_architecture(config) is None
    assert "GPT2LMHeadModel" in supported_architecture({**config, "architectures": ["GPT2LMHeadModel"]})
    assert "transformers" in supported_architecture({**config, "architectures": ["GPT2LMHeadModel"]})
    assert "gptq" in supported_architecture({**config, "quantization_config": {"quant_method": "gptq"}})
    assert "dynamic" in supported_architecture({**config, "rope_scaling": {"type": "dynamic", "factor": 2.0}})


# a Llama 3 style pre-tokenizer exactly as tokenizer.json spells it, DIGITS standing for the number rule
SPLIT_JSON = r"""{"type": "Sequence", "pretokenizers": [
    {"type": "Split", "behavior": "Isolated", "invert": false, "pattern": {"Regex":
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|DIGITS| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}"""


def test_pre_tokenizers_are_recognised_from_tokenizer_json():
    import json

    from models.convert.tokenizer_metadata import bpe_pre_tokenizer

    assert bpe_pre_tokenizer(json.loads(SPLIT_JSON.replace("DIGITS", r"\\p{N}{1,3}"))) == "llama-bpe"
    assert bpe_pre_tokenizer(json.loads(SPLIT_JSON.replace("DIGITS", r"\\p{N}"))) == "qwen2"
    assert bpe_pre_tokenizer(json.loads(SPLIT_JSON.replace("DIGITS", r"\\p{N}{1,2}"))) is None
    smollm = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                    {"type": "ByteLevel", "use_regex": True}]}
    assert bpe_pre_tokenizer(smollm) == "smollm"
    assert bpe_pre_tokenizer({"type": "ByteLevel", "add_prefix_space": False}) == "gpt-2"
    assert bpe_pre_tokenizer({"type": "Metaspace"}) is None


def test_an_unknown_tokenizer_keeps_the_model_on_transformers(tmp_path):
    hf_dir = make_tiny_model(tmp_path / "hf")
    write_bundled_tokenizer_files(hf_dir)
    tokenizer_file = hf_dir / "tokenizer.json"
    tokenizer_file.write_text(tokenizer_file.read_text().replace('"pre_tokenizer": {"type": "ByteLevel"',
                                                                 '"pre_tokenizer": {"type": "Whitespace"'))
    with pytest.raises(ModelError, match="keeps running through transformers"):
        write_model_gguf(hf_dir, tmp_path / "model.gguf")
    assert not (tmp_path / "model.gguf").exists()


def test_weights_of_another_shape_are_refused_against_a_base(tiny, tmp_path):
    _, base_file = tiny
    other = make_tiny_model(tmp_path / "other", hidden_size=32, intermediate_size=64)
    with pytest.raises(ModelError, match="do not fit"):
        write_model_gguf(other, tmp_path / "other.gguf", base_gguf=base_file)
    assert not (tmp_path / "other.gguf").exists()


def test_a_failed_write_leaves_no_file(tiny, tmp_path, monkeypatch):
    from models.convert import safetensors_source

    hf_dir, base_file = tiny
    loads = []
    original = safetensors_source.SourceTensor.load

    def failing_load(self):
        loads.append(self.name)
        if len(loads) == 5:
            raise RuntimeError("simulated crash half-way")
        return original(self)

    monkeypatch.setattr(safetensors_source.SourceTensor, "load", failing_load)
    out_dir = tmp_path / "out"
    with pytest.raises(RuntimeError, match="half-way"):
        write_model_gguf(hf_dir, out_dir / "model.gguf", base_gguf=base_file)
    assert list(out_dir.iterdir()) == []


def test_a_full_disk_is_reported_and_leaves_no_file(tiny, tmp_path, monkeypatch):
    import gguf

    hf_dir, base_file = tiny

    def disk_full(self, tensor, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensor_data", disk_full)
    with pytest.raises(ModelError, match="disk is full"):
        write_model_gguf(hf_dir, tmp_path / "model.gguf", base_gguf=base_file)
    assert leftovers(tmp_path) == [] and not (tmp_path / "model.gguf").exists()


def test_token_ids_fit_the_vocabulary():
    assert max(TOKEN_IDS) < 49152
