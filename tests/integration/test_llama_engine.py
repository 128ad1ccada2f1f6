"""The default chat model on llama.cpp: loaded in place, imported in place, bad files refused."""
import shutil
import threading

import numpy as np
import pytest

from models.errors import ModelError
from models.generation import GenerationSettings, Generator
from tests.unit.test_gguf_check import write_gguf

REWRITE = (
    "Rewrite this paragraph with the same words but in British spelling: The color of the harbor "
    "changed at noon. The neighbors organized a program to honor the favorite traveler of the center, "
    "and they analyzed the color of every harbor in the catalog."
)


def data_home_bytes(home) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


def test_default_model_runs_on_llama_cpp_from_its_own_file(chat_generator, default_chat_path, fireside_home):
    assert chat_generator.backend == "llama.cpp"
    assert chat_generator.precision == "Q4_1"
    assert chat_generator.context_length == 4096
    from models.registry import Registry

    entry = Registry().default("chat")
    assert Registry().local_path(entry) == default_chat_path and default_chat_path.suffix == ".gguf"
    assert data_home_bytes(fireside_home) < 1_000_000  # no float copy anywhere


def test_the_chat_template_comes_from_the_gguf(chat_generator):
    ids = chat_generator.chat_prompt_ids([{"role": "user", "content": "Hi"}])
    text = chat_generator.tokenizer.decode(ids, skip_special_tokens=False)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_lookup_gives_the_same_greedy_reply(default_chat_path):
    plain = Generator.load(default_chat_path, name="plain")
    lookup = Generator.load(default_chat_path, name="lookup", speculative=True)
    settings = GenerationSettings(temperature=0, max_new_tokens=80)
    ids = plain.chat_prompt_ids([{"role": "user", "content": REWRITE}])
    first = plain.generate(ids, settings)
    second = lookup.generate(ids, settings)
    assert second.text == first.text and second.stats.new_tokens == first.stats.new_tokens
    assert "harbour" in second.text.lower() or "colour" in second.text.lower() or second.text
    plain.close()
    lookup.close()


def test_import_registers_the_file_where_it_is(tmp_path, fireside_home, default_chat_path):
    from models.registry import Registry

    mine = tmp_path / "mine.gguf"
    shutil.copyfile(default_chat_path, mine)
    before = data_home_bytes(fireside_home)
    entry = Registry().import_gguf(mine, name="Mine")
    assert entry.path == str(mine) and entry.architecture == "llama" and entry.parameters == 134_515_008
    assert data_home_bytes(fireside_home) - before < 1_000_000
    generator = Generator.load(Registry().local_path(entry), name="Mine")
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Name the capital of France."}])
    assert "Paris" in generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=20)).text

    mine.unlink()  # deleted while loaded: the mapped model still answers, a new load says what happened
    assert generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=5)).stats.new_tokens == 5
    generator.close()
    with pytest.raises(ModelError, match="gone"):
        Registry().local_path(Registry().get("Mine"))


def test_bad_files_are_refused_and_the_registry_is_unchanged(tmp_path, default_chat_path):
    from models.registry import Registry

    registry = Registry()
    names = [e.name for e in registry.list()]
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(default_chat_path.read_bytes()[:30_000_000])
    with pytest.raises(ModelError, match="incomplete"):
        registry.import_gguf(cut)
    alien = write_gguf(tmp_path / "alien.gguf", arch="nonesuch",
                       tensors={"blk.0.attn_q.weight": np.ones((8, 4), dtype=np.float32)})
    with pytest.raises(ModelError, match="llama.cpp (cannot run|crashed)"):
        registry.import_gguf(alien)
    assert [e.name for e in Registry().list()] == names


def test_stop_before_the_prompt_ends_leaves_the_cache_usable(chat_generator):
    ids = chat_generator.chat_prompt_ids([{"role": "user", "content": "Tell me about owls. " * 200}])
    stop = threading.Event()
    stop.set()
    result = chat_generator.generate(ids, GenerationSettings(max_new_tokens=20), stop_event=stop)
    assert result.stats.stop_reason == "stopped" and result.text == ""
    short = chat_generator.chat_prompt_ids([{"role": "user", "content": "Name the capital of France."}])
    assert "Paris" in chat_generator.generate(short, GenerationSettings(temperature=0, max_new_tokens=20)).text


def test_a_lora_fine_tune_from_an_earlier_version_moves_to_llama_cpp(tmp_path, fireside_home, default_chat_path):
    """Earlier versions kept a LoRA fine-tune as peft weights only; its first load writes the GGUF adapter."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model

    from models.loading import load_causal_lm
    from models.registry import ModelEntry, Registry

    model, tokenizer = load_causal_lm(default_chat_path)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.02)
    folder = fireside_home / "models" / "old-tune" / "weights"
    peft_model.save_pretrained(str(folder / "adapter"))
    tokenizer.save_pretrained(str(folder))
    entry = ModelEntry(name="old-tune", kind="chat", architecture="LlamaForCausalLM", parameters=0, size_bytes=0,
                       source="fine-tuned", path=str(folder), created="", base_model="SmolLM2-135M-Instruct")
    (folder.parent / "fireside-model.json").write_text(json.dumps(entry.to_dict()))

    registry = Registry()
    path = registry.local_path(registry.get("old-tune"))
    assert (path / "adapter.gguf").is_file()
    generator = Generator.load(path, name="old-tune")
    assert generator.backend == "llama.cpp" and generator.precision == "Q4_1 + LoRA adapter"
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Name the capital of France."}])
    assert generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=8)).stats.new_tokens > 0
    generator.close()


def test_an_imported_transformers_chat_folder_is_written_once_as_gguf(tmp_path, fireside_home, default_chat_path):
    from models.loading import load_causal_lm
    from models.registry import Registry

    model, tokenizer = load_causal_lm(default_chat_path)
    folder = tmp_path / "smol-folder"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    steps = []
    entry = Registry().import_folder(folder, name="smol-folder", progress=lambda f, m: steps.append(f))
    assert entry.path.endswith("model.Q8_0.gguf") and entry.original_file == str(folder), entry.provenance
    assert steps and max(steps) <= 1.0
    generator = Generator.load(Registry().local_path(entry), name="smol-folder")
    assert generator.backend == "llama.cpp" and generator.precision == "Q8_0"
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Name the capital of France."}])
    assert "Paris" in generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=20)).text
    generator.close()
