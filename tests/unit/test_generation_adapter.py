"""A LoRA fine-tune of a 4-bit base runs at 4 bits with its adapters apart, and keeps what it learnt."""
import json

import pytest
import torch

from models.generation import Generator
from models.generation.fast_decoder import FastDecoder
from models.generation.lora import find_adapter
from tests.tiny_models import copy_encoder_tokenizer


def tiny_base(folder):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=30522, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    LlamaForCausalLM(config).save_pretrained(folder)
    copy_encoder_tokenizer(folder)
    # As if converted from a 4-bit GGUF, like the bundled chat model.
    (folder / "fireside-converted.json").write_text(json.dumps({"source": "tiny.Q4_1.gguf"}))
    return folder


@pytest.fixture(scope="module")
def fine_tune(tmp_path_factory):
    """(base folder, fine-tuned folder): merged weights plus the adapter folder, as a LoRA job writes them."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("lora")
    base = tiny_base(root / "base")
    model = AutoModelForCausalLM.from_pretrained(str(base))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # trained adapters are no longer zero
                parameter.normal_(std=0.2)
    tuned = root / "tuned"
    peft_model.save_pretrained(str(tuned / "adapter"))
    peft_model.merge_and_unload().save_pretrained(str(tuned))
    copy_encoder_tokenizer(tuned)
    return base, tuned


def logits_of(generator_or_model, ids):
    with torch.inference_mode():
        if isinstance(generator_or_model, Generator):
            generator_or_model.reset_cache()
            return generator_or_model.decoder.forward(torch.tensor(ids), 0)
        return generator_or_model(torch.tensor([ids])).logits[0, -1].float()


def test_adapters_are_found_with_their_base(fine_tune):
    base, tuned = fine_tune
    adapter = find_adapter(tuned)
    assert adapter is not None and adapter.base_path == base
    assert adapter.scaling == pytest.approx(2.0)
    assert {module for _, module in adapter.weights} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                        "up_proj", "down_proj"}
    assert find_adapter(base) is None


def test_auto_runs_the_fine_tune_at_4_bits_with_what_it_learnt(fine_tune):
    from models.loading import load_causal_lm

    base, tuned = fine_tune
    ids = list(range(200, 240))
    generator = Generator.load(tuned)
    assert generator.quantization == "int4" and generator.adapter and generator.backend == "fast"
    assert generator.precision == "4-bit + LoRA adapters"
    tuned_model, _ = load_causal_lm(tuned, dtype=torch.float32)
    base_model, _ = load_causal_lm(base, dtype=torch.float32)
    expected, before = logits_of(tuned_model, ids), logits_of(base_model, ids)
    got = logits_of(generator, ids)
    base_int4 = FastDecoder(base_model, "int4").forward(torch.tensor(ids), 0)
    # The fine-tune's change to the output is there, in direction and size...
    learnt, kept = expected - before, got - base_int4
    assert torch.nn.functional.cosine_similarity(learnt, kept, dim=0) > 0.98
    assert kept.norm() / learnt.norm() == pytest.approx(1.0, abs=0.05)
    # ...and the whole output is the fine-tune's.
    assert torch.nn.functional.cosine_similarity(got, expected, dim=0) > 0.99


def test_other_precisions_use_the_merged_weights(fine_tune):
    _, tuned = fine_tune
    full = Generator.load(tuned, quantization="none")
    assert full.quantization == "none" and not full.adapter


def test_a_missing_base_falls_back_to_the_merged_weights(fine_tune, tmp_path):
    import shutil

    _, tuned = fine_tune
    moved = tmp_path / "tuned"
    shutil.copytree(tuned, moved)
    config_file = moved / "adapter" / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    config_file.write_text(json.dumps(config))
    assert find_adapter(moved) is None
    generator = Generator.load(moved)
    assert not generator.adapter and generator.quantization == "int8"
