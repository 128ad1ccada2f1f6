"""Exporting a chat model as one GGUF file with an Ollama Modelfile beside it."""
import json

import numpy as np
import pytest

from models.convert.export import export_chat_model
from models.convert.modelfile import modelfile_text
from models.errors import ModelError
from tests.convert_support import (leftovers, llama_cpp_logits, load_model, make_adapter, make_tiny_model,
                                   write_tiny_gguf)

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    hf_dir = make_tiny_model(folder / "hf")
    return hf_dir, write_tiny_gguf(hf_dir, folder / "base.gguf", outtype="F16")


@pytest.fixture(scope="module")
def fine_tune(tiny, tmp_path_factory):
    """A LoRA fine-tune as Fireside keeps one: a folder holding the peft adapter in adapter/."""
    hf_dir, _ = tiny
    folder = tmp_path_factory.mktemp("fine-tune")
    make_adapter(load_model(hf_dir), folder / "adapter")
    return folder


def test_gguf_already_in_the_wanted_type_is_copied(tiny, tmp_path):
    _, base_file = tiny
    steps = []
    result = export_chat_model(base_file, tmp_path / "out" / "model.gguf", "F16",
                               progress=lambda fraction, text: steps.append(text))
    assert result.gguf_file.read_bytes() == base_file.read_bytes()
    assert result.source_kind == "gguf" and result.quant == "F16" and result.notes == []
    assert result.modelfile == tmp_path / "out" / "Modelfile"
    assert "FROM ./model.gguf" in result.modelfile.read_text()
    assert any(text.startswith("Copying") for text in steps) and steps[-1] == "Exported model.gguf"
    assert leftovers(tmp_path / "out") == []


def test_lora_fine_tune_exports_merged(tiny, fine_tune, tmp_path):
    pytest.importorskip("llama_cpp")
    from models.convert.lora_gguf import write_lora_adapter

    _, base_file = tiny
    result = export_chat_model(fine_tune, tmp_path / "out" / "tuned.gguf", "Q8_0", base_gguf=base_file,
                               settings={"temperature": 0.2, "top_k": 20, "repetition_penalty": 1.1,
                                         "max_new_tokens": 256})
    assert result.source_kind == "lora"
    adapter_file = write_lora_adapter(fine_tune / "adapter", base_file, tmp_path / "adapter.gguf")
    at_load = llama_cpp_logits(base_file, lora_path=adapter_file)
    merged = llama_cpp_logits(result.gguf_file)
    assert np.abs(merged - at_load).max() < 0.05 * np.abs(at_load).max()  # Q8_0 of the merged weights
    assert (merged.argmax(axis=1) == at_load.argmax(axis=1)).mean() >= 0.8
    text = result.modelfile.read_text()
    for line in ("PARAMETER temperature 0.2", "PARAMETER top_k 20", "PARAMETER repeat_penalty 1.1",
                 "PARAMETER num_predict 256", 'PARAMETER stop "<|im_end|>"'):
        assert line in text
    assert leftovers(tmp_path / "out") == []  # the merged intermediate file is gone
    from_gguf_adapter = export_chat_model(base_file, tmp_path / "out" / "tuned-2.gguf", "Q8_0",
                                          adapter_gguf=adapter_file)
    assert np.abs(llama_cpp_logits(from_gguf_adapter.gguf_file) - merged).max() < 1e-3  # the same merge


def test_lora_fine_tune_needs_its_base(fine_tune, tmp_path):
    with pytest.raises(ModelError, match="give the base's GGUF file"):
        export_chat_model(fine_tune, tmp_path / "tuned.gguf", "Q8_0")


def test_transformers_folder_exports_with_a_new_chat_template(tiny, tmp_path):
    pytest.importorskip("llama_cpp")
    from models.convert.gguf_file import open_gguf

    hf_dir, base_file = tiny
    result = export_chat_model(hf_dir, tmp_path / "hf.gguf", "Q8_0", base_gguf=base_file, chat_template=CHATML)
    assert result.source_kind == "transformers"
    assert open_gguf(result.gguf_file).value("tokenizer.chat_template") == CHATML
    assert 'SYSTEM """You are a helpful assistant."""' in result.modelfile.read_text()
    assert np.isfinite(llama_cpp_logits(result.gguf_file)).all()


def test_export_refuses_to_overwrite_its_source(tiny):
    _, base_file = tiny
    with pytest.raises(ModelError, match="overwrite its own source"):
        export_chat_model(base_file, base_file, "F16")


def test_modelfile_translates_chatml():
    text = modelfile_text("m.gguf", CHATML, {"temperature": 0.7, "top_p": 0.9, "seed": None}, end_token="<|im_end|>")
    assert text.splitlines()[1] == "FROM ./m.gguf"
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n' in text
    assert 'SYSTEM """You are a helpful assistant."""' in text
    assert "PARAMETER temperature 0.7" in text and "PARAMETER top_p 0.9" in text and "seed" not in text
    assert text.count('PARAMETER stop "<|im_end|>"') == 1


def test_modelfile_translates_llama3_and_keeps_unknown_templates_as_comments():
    llama3 = "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}" \
             "<|eot_id|>{% endfor %}"
    text = modelfile_text("m.gguf", llama3, end_token="<|eot_id|>")
    assert "<|start_header_id|>{{ .Role }}<|end_header_id|>" in text and 'PARAMETER stop "<|eot_id|>"' in text
    odd = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    text = modelfile_text("m.gguf", odd, end_token="</s>")
    assert "TEMPLATE" not in text
    assert "#   {% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}" in text
    assert 'PARAMETER stop "</s>"' in text


def test_cli_exports_a_registered_fine_tune(tiny, fine_tune, fireside_home, tmp_path, capsys):
    pytest.importorskip("llama_cpp")
    from desktop.cli import main
    from models.convert.lora_gguf import write_lora_adapter
    from models.generation.loaders import LORA_ADAPTER_FILE, write_lora_base
    from models.registry import ModelEntry

    _, base_file = tiny
    # As a LoRA job on a GGUF base leaves it: the adapter as GGUF and the base's path beside it.
    write_lora_base(fine_tune, base_file)
    write_lora_adapter(fine_tune / "adapter", base_file, fine_tune / LORA_ADAPTER_FILE)
    entry = ModelEntry(name="tiny-tuned", kind="chat", architecture="LlamaForCausalLM", parameters=0,
                       size_bytes=0, source="fine-tuned", path=str(fine_tune), created="", base_model="tiny")
    folder = fireside_home / "models" / "tiny-tuned"
    folder.mkdir(parents=True)
    (folder / "fireside-model.json").write_text(json.dumps(entry.to_dict()))
    out = tmp_path / "exported" / "tiny-tuned.gguf"
    assert main(["models", "export", "tiny-tuned", "--quant", "Q8_0", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert out.is_file() and (out.parent / "Modelfile").is_file()
    assert "exported tiny-tuned" in captured.out
    steps = captured.err.strip().splitlines()
    assert [line.split("] ", 1)[1] for line in steps] == [
        "Merging the adapter into the base weights", "Quantizing to Q8_0", "Writing the Ollama Modelfile",
        "Exported tiny-tuned.gguf"]
