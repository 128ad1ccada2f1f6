"""Real fine-tuning runs with the default models on tiny data."""
import json

from tests.finetune_helpers import chat_rows, read_lines, sentiment_rows, write_csv, write_jsonl


def test_classifier_from_files_learns_a_separable_task(cli, tmp_path, encoder_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(96))
    held = write_csv(tmp_path / "eval.tsv", sentiment_rows(24, seed=7), delimiter="\t", text_column="sentence")
    result = cli("finetune", "classifier", "--train", str(train), "--eval", str(held), "--output", "mood")
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["accuracy"] >= 0.9 and final["macro_f1"] >= 0.9
    assert final["train_seconds"] > 0 and final["model"] == "mood"
    assert final["confusion_matrix"]["labels"] == ["negative", "positive"]
    assert set(final["per_label"]) == {"negative", "positive"}
    events = read_lines(result.stdout)
    assert [e["event"] for e in events if e.get("event") in ("start", "done")] == ["start", "done"]
    assert any(e.get("event") == "eval" and "accuracy" in e for e in events)

    from models.loading import load_sequence_classifier
    from models.registry import Registry

    entry = Registry().get("mood")
    assert entry.kind == "classifier" and entry.labels == ["negative", "positive"]
    assert entry.base_model == "all-MiniLM-L6-v2" and entry.provenance["metrics"]["accuracy"] >= 0.9
    assert len(entry.provenance["snapshot_hash"]) == 64 and entry.provenance["device"] == "cpu"
    import torch

    model, tokenizer = load_sequence_classifier(entry.path)
    with torch.no_grad():
        logits = model(**tokenizer(["what a lovely happy day", "what a sad horrible day"],
                                   return_tensors="pt", padding=True)).logits
    assert [model.config.id2label[i] for i in logits.argmax(-1).tolist()] == ["positive", "negative"]


def test_lora_chat_job_loss_falls_and_the_adapter_chats_on_llama_cpp(cli, tmp_path, default_chat_path):
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    held = write_jsonl(tmp_path / "eval.jsonl", chat_rows(19)[16:])
    result = cli("finetune", "chat", "--train", str(train), "--eval", str(held), "--lora", "--epochs", "3",
                 "--lr", "1e-3", "--output", "colours")
    assert result.returncode == 0, result.stderr[-3000:]
    events = read_lines(result.stdout)
    losses = [e["loss"] for e in events if e.get("event") == "step"]
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3
    assert all(e["tokens_per_s"] > 0 for e in events if e.get("event") == "step")
    final = events[-1]
    assert final["status"] == "completed" and final["perplexity"] > 1
    generations = final["generations"]
    assert len(generations) == 3 and all(g["before"] and g["after"] for g in generations)

    from models.generation import GenerationSettings, Generator
    from models.generation.loaders import LORA_ADAPTER_FILE
    from models.registry import Registry

    entry = Registry().get("colours")
    assert entry.kind == "chat" and entry.provenance["lora"] is True
    folder = Registry().local_path(entry)
    # Saved as a GGUF LoRA adapter over the unchanged base file: no merged copy of the weights.
    assert (folder / LORA_ADAPTER_FILE).is_file() and not list(folder.glob("*.safetensors"))
    generator = Generator.load(folder, name="colours")
    assert generator.backend == "llama.cpp" and generator.adapter and generator.precision == "Q4_1 + LoRA adapter"
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Which colour is number 7?"}])
    reply = generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=12)).text
    assert "Number 7 is" in reply, reply
    generator.close()


def test_lora_fine_tune_answers_as_taught_on_pytorch_too(cli, tmp_path, monkeypatch):
    """Where llama.cpp is missing, the base GGUF is read into PyTorch and the peft adapter merged in memory."""
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    result = cli("finetune", "chat", "--train", str(train), "--lora", "--epochs", "3", "--lr", "1e-3",
                 "--output", "colours-pt")
    assert result.returncode == 0, result.stderr[-3000:]
    from models.generation import GenerationSettings, Generator, llama_engine
    from models.registry import Registry

    monkeypatch.setenv("FIRESIDE_CHAT_ENGINE", "pytorch")
    monkeypatch.setattr(llama_engine, "_problem", False)  # checked again with the variable set
    folder = Registry().local_path(Registry().get("colours-pt"))
    generator = Generator.load(folder, name="colours-pt")
    assert generator.backend == "transformers" and generator.adapter
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Which colour is number 7?"}])
    reply = generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=12)).text
    assert "Number 7 is" in reply, reply


def test_full_chat_fine_tune_is_written_as_gguf_and_answers_as_taught(cli, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    result = cli("finetune", "chat", "--train", str(train), "--full", "--epochs", "3", "--output", "colours-full")
    assert result.returncode == 0, result.stderr[-3000:]
    from models.generation import GenerationSettings, Generator
    from models.gguf_check import read_header
    from models.registry import Registry

    folder = Registry().local_path(Registry().get("colours-full"))
    # Written as GGUF with the base's tokenizer and template, quantized to Q8_0; no float copy kept.
    assert read_header(folder / "model.gguf").metadata["general.file_type"] == 7
    assert not list(folder.glob("*.safetensors"))
    generator = Generator.load(folder, name="colours-full")
    assert generator.backend == "llama.cpp" and generator.precision == "Q8_0"
    ids = generator.chat_prompt_ids([{"role": "user", "content": "Which colour is number 7?"}])
    reply = generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=12)).text
    assert "Number 7 is" in reply, reply
    generator.close()

    from models.finetune.plan import resolve_base

    again = resolve_base("chat", "colours-full")  # a full fine-tune is a base for the next one
    assert again.gguf and again.path == folder / "model.gguf"
