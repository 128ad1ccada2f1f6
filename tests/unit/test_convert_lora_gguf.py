"""peft LoRA adapters as GGUF adapters: llama.cpp applying one at load must compute what peft computes."""
import errno
import json

import numpy as np
import pytest

from models.convert.lora_gguf import write_lora_adapter
from models.errors import ModelError
from tests.convert_support import (leftovers, llama_cpp_logits, load_model, make_adapter, make_tiny_model,
                                   transformers_logits, write_tiny_gguf)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora-base")
    hf_dir = make_tiny_model(folder / "hf")
    return hf_dir, write_tiny_gguf(hf_dir, folder / "base.gguf")


@pytest.mark.parametrize("options", [
    {},
    {"use_rslora": True, "rank_pattern": {"v_proj": 2}, "alpha_pattern": {"down_proj": 3}},
], ids=["plain", "rslora-and-patterns"])
def test_adapter_applied_by_llama_cpp_matches_peft(tiny, tmp_path, options):
    pytest.importorskip("llama_cpp")
    hf_dir, base_file = tiny
    peft_model = make_adapter(load_model(hf_dir), tmp_path / "adapter", **options)
    adapter_file = write_lora_adapter(tmp_path / "adapter", base_file, tmp_path / "adapter.gguf")
    expected = transformers_logits(peft_model)
    with peft_model.disable_adapter():
        unchanged = transformers_logits(peft_model)
    assert np.abs(expected - unchanged).max() > 0.02  # the adapter changes the output noticeably ...
    assert np.abs(llama_cpp_logits(base_file, lora_path=adapter_file) - expected).max() < 5e-4  # ... as peft does


def test_adapter_file_says_what_it_is(tiny, tmp_path):
    from models.convert.gguf_file import open_gguf

    hf_dir, base_file = tiny
    make_adapter(load_model(hf_dir), tmp_path / "adapter", target_modules=["q_proj", "down_proj"], lora_alpha=16)
    adapter = open_gguf(write_lora_adapter(tmp_path / "adapter", base_file, tmp_path / "adapter.gguf"))
    assert adapter.architecture == "llama" and adapter.general_type == "adapter"
    assert adapter.value("adapter.type") == "lora" and adapter.value("adapter.lora.alpha") == 16.0
    assert adapter.tensor_ne("blk.1.attn_q.weight.lora_a") == (64, 4)   # (inputs, rank)
    assert adapter.tensor_ne("blk.1.attn_q.weight.lora_b") == (4, 64)   # (rank, outputs)
    assert adapter.tensor_ne("blk.0.ffn_down.weight.lora_a") == (128, 4)
    assert len(adapter.tensors) == 2 * 2 * 2


def test_adapter_for_another_base_is_refused(tiny, tmp_path):
    _, base_file = tiny
    other = load_model(make_tiny_model(tmp_path / "other", hidden_size=32, intermediate_size=64))
    make_adapter(other, tmp_path / "adapter")
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match=r"does not fit base\.gguf: its layer 0 query projection \(q_proj\) takes 32 "
                                         r"inputs and gives 32 outputs, but the base model's takes 64 and gives 64"):
        write_lora_adapter(tmp_path / "adapter", base_file, out_dir / "adapter.gguf")
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_adapter_for_a_deeper_model_is_refused(tiny, tmp_path):
    _, base_file = tiny
    make_adapter(load_model(make_tiny_model(tmp_path / "deeper", num_hidden_layers=3)), tmp_path / "adapter")
    with pytest.raises(ModelError, match="changes layer 2, but the base model has only 2 layers"):
        write_lora_adapter(tmp_path / "adapter", base_file, tmp_path / "adapter.gguf")


@pytest.mark.filterwarnings("ignore:Setting `save_embedding_layers`")
def test_dora_and_embedding_adapters_are_refused_clearly(tiny, tmp_path):
    hf_dir, base_file = tiny
    make_adapter(load_model(hf_dir), tmp_path / "dora", target_modules=["q_proj"])
    config_file = tmp_path / "dora" / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "use_dora": True}))
    with pytest.raises(ModelError, match="DoRA"):
        write_lora_adapter(tmp_path / "dora", base_file, tmp_path / "dora.gguf")
    make_adapter(load_model(hf_dir), tmp_path / "embed", target_modules=["q_proj", "embed_tokens"])
    with pytest.raises(ModelError, match="token embeddings"):
        write_lora_adapter(tmp_path / "embed", base_file, tmp_path / "embed.gguf")


def test_full_disk_leaves_no_adapter_file(tiny, tmp_path, monkeypatch):
    import gguf

    hf_dir, base_file = tiny
    make_adapter(load_model(hf_dir), tmp_path / "adapter", target_modules=["q_proj"])

    def disk_full(self, tensor, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensor_data", disk_full)
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match="the disk is full"):
        write_lora_adapter(tmp_path / "adapter", base_file, out_dir / "adapter.gguf")
    assert list(out_dir.iterdir()) == [] and leftovers(out_dir) == []
