"""The lean decoder computes what transformers computes, in every mode, on tiny models."""
import threading

import pytest
import torch

from models.generation import GenerationSettings, Generator
from models.generation.fast_decoder import FastDecoder, unsupported_reason
from models.generation.quantize import Int4Linear, Int8Linear, quantize_int4, resolve_quantization
from tests.tiny_models import copy_encoder_tokenizer, make_tiny_causal_lm


def tiny(kind: str, folder):
    from transformers import AutoModelForCausalLM, GPT2Config, Qwen2Config, Qwen3Config

    torch.manual_seed(0)
    common = dict(vocab_size=30522, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    if kind == "llama":
        return make_tiny_causal_lm(folder)
    if kind == "qwen2":
        config = Qwen2Config(**common)
    elif kind == "qwen3":
        config = Qwen3Config(head_dim=16, **common)
    else:
        config = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=256)
    model = AutoModelForCausalLM.from_config(config)
    if kind == "qwen2":  # make the q/k/v biases matter
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                torch.nn.init.normal_(proj.bias, std=0.5)
    model.save_pretrained(folder)
    copy_encoder_tokenizer(folder)
    return folder


@pytest.fixture(scope="module", params=["llama", "qwen2", "qwen3"])
def model_dir(request, tmp_path_factory):
    return tiny(request.param, tmp_path_factory.mktemp(request.param))


def reference_logits(model, ids):
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].float()


def test_full_precision_matches_transformers_whole_chunked_and_stepwise(model_dir):
    from models.loading import load_causal_lm

    model, _ = load_causal_lm(model_dir)
    ids = torch.randint(5, 1000, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    expected = reference_logits(model, ids)
    decoder = FastDecoder(model, "none")
    with torch.inference_mode():
        torch.testing.assert_close(decoder.forward(torch.tensor(ids), 0), expected[-1], atol=2e-4, rtol=1e-4)
        decoder.forward(torch.tensor(ids[:17]), 0)
        torch.testing.assert_close(decoder.forward(torch.tensor(ids[17:39]), 17), expected[38], atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(decoder.step(ids[39], 39), expected[39], atol=2e-4, rtol=1e-4)
        # The static-shape step (what a CUDA graph captures) computes the same.
        decoder.static = True
        torch.testing.assert_close(decoder.step(ids[39], 39), expected[39], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("scheme", ["int8", "int4", "int4-torch"])
def test_quantized_decoder_stays_close(model_dir, scheme, monkeypatch):
    """int8 and int4 run on Fireside's own kernels where they are built, int4-torch on PyTorch's."""
    from models.generation import native_kernels
    from models.loading import load_causal_lm

    if scheme == "int4-torch":
        monkeypatch.setenv("FIRESIDE_NATIVE_KERNELS", "0")
    model, _ = load_causal_lm(model_dir)
    ids = list(range(100, 130))
    expected = reference_logits(model, ids)[-1]
    with torch.inference_mode():
        decoder = FastDecoder(model, scheme.removesuffix("-torch"))
        native = not scheme.endswith("-torch") and native_kernels.available()
        bits = scheme[3]
        expected_layer = f"NativeInt{bits}Linear" if native else f"Int{bits}Linear"
        assert type(decoder.layers[0].qkv).__name__ == expected_layer
        got = decoder.forward(torch.tensor(ids), 0)
        decoder.forward(torch.tensor(ids[:-1]), 0)
        stepped = decoder.step(ids[-1], len(ids) - 1)  # the CPU's own one-token loop
    assert torch.nn.functional.cosine_similarity(got, expected, dim=0) > 0.99
    torch.testing.assert_close(stepped, got, atol=2e-2, rtol=1e-2)


def test_int4_holds_a_4bit_grid_exactly_and_packed_equals_portable():
    torch.manual_seed(0)
    q = torch.randint(0, 16, (64, 96)).float()
    q[:, 0::32], q[:, 1::32] = 0, 15  # as in llama.cpp's Q4_1: each block spans its minimum to its maximum
    scale = torch.rand(64, 3, 1) * 0.01 + 0.001
    low = -torch.rand(64, 3, 1) * 0.05
    weight = (q.view(64, 3, 32) * scale.bfloat16().float() + low.bfloat16().float()).view(64, 96)
    got_q, _, _ = quantize_int4(weight)
    assert torch.equal(got_q.float(), q)
    packed, portable = Int4Linear(weight), Int4Linear(weight, portable=True)
    torch.testing.assert_close(portable.dequantize().float(), weight, atol=1e-6, rtol=0)
    # The packed kernel keeps its zero point (minimum + 8 * scale) and its output in bfloat16.
    torch.testing.assert_close(packed.dequantize().float(), weight, atol=2e-3, rtol=0)
    x = torch.randn(3, 96)
    torch.testing.assert_close(packed(x).float(), portable(x).float(), atol=2e-2, rtol=2e-2)
    int8, int8_portable = Int8Linear(weight), Int8Linear(weight, portable=True)
    torch.testing.assert_close(int8(x).float(), int8_portable(x).float(), atol=2e-2, rtol=2e-2)


def test_quantization_setting(tmp_path):
    from models.generation.quantize import converted_from_4bit_gguf

    assert resolve_quantization("auto", "cpu", four_bit_source=True) == "int4"
    assert resolve_quantization("auto", "cpu") == "int8"  # fine-tuned weights: 4 bits would erase the training
    assert resolve_quantization("auto", "cuda", four_bit_source=True) == "none"
    assert resolve_quantization("int8", "cuda") == "int8"
    with pytest.raises(ValueError, match="unknown quantization"):
        resolve_quantization("int3", "cpu")
    assert not converted_from_4bit_gguf(tmp_path)
    (tmp_path / "fireside-converted.json").write_text('{"source": "x/SmolLM2-135M-Instruct.Q4_1.gguf"}')
    assert converted_from_4bit_gguf(tmp_path)
    (tmp_path / "fireside-converted.json").write_text('{"source": "x/model.Q8_0.gguf"}')
    assert not converted_from_4bit_gguf(tmp_path)


def test_seeded_sampling_reproduces_transformers_generate(tmp_path):
    folder = make_tiny_causal_lm(tmp_path / "llama")
    generator = Generator.load(folder, quantization="none")
    assert generator.backend == "fast"
    settings = GenerationSettings(temperature=0.8, top_p=0.9, top_k=20, repetition_penalty=1.2, seed=42,
                                  max_new_tokens=24)
    prompt = list(range(1000, 1012))
    ours = generator.generate(prompt, settings)
    from models.loading import load_causal_lm

    model, _ = load_causal_lm(folder)
    torch.manual_seed(42)
    out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                         do_sample=True, temperature=0.8, top_p=0.9, top_k=20, repetition_penalty=1.2,
                         max_new_tokens=24, min_new_tokens=24, eos_token_id=None, pad_token_id=0)
    theirs = out[0, len(prompt):].tolist()
    assert ours.stats.new_tokens == 24 and ours.stats.stop_reason == "length"
    expected_text = generator.tokenizer.decode(theirs, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert ours.text == expected_text


def test_other_architectures_run_through_transformers(tmp_path):
    folder = tiny("gpt2", tmp_path / "gpt2")
    from transformers import AutoConfig

    assert "gpt2" in unsupported_reason(AutoConfig.from_pretrained(folder))
    generator = Generator.load(folder)
    assert generator.backend == "transformers" and generator.quantization == "none"
    result = generator.generate(list(range(100, 110)), GenerationSettings(temperature=0, max_new_tokens=6))
    again = generator.generate(list(range(100, 110)), GenerationSettings(temperature=0, max_new_tokens=6))
    assert result.stats.new_tokens == 6 and again.text == result.text
    assert again.stats.reused_prompt_tokens == 9


def test_prefix_reuse_gives_the_same_reply(tmp_path):
    generator = Generator.load(make_tiny_causal_lm(tmp_path / "llama"))
    settings = GenerationSettings(temperature=0, max_new_tokens=10, repetition_penalty=1.0)
    prompt = list(range(2000, 2050))
    cold = generator.generate(prompt, settings)
    warm = generator.generate(prompt + [7, 8, 9], settings)
    generator.reset_cache()
    fresh = generator.generate(prompt + [7, 8, 9], settings)
    assert cold.stats.reused_prompt_tokens == 0
    assert warm.stats.reused_prompt_tokens == 50 and fresh.stats.reused_prompt_tokens == 0
    assert warm.text == fresh.text


def test_stop_before_start_and_too_long_prompt(tmp_path):
    from models.errors import ModelError

    generator = Generator.load(make_tiny_causal_lm(tmp_path / "llama"))
    stop = threading.Event()
    stop.set()
    result = generator.generate([5, 6, 7], GenerationSettings(max_new_tokens=5), stop_event=stop)
    assert result.stats.stop_reason == "stopped" and result.stats.new_tokens == 0 and result.text == ""
    with pytest.raises(ModelError, match="reads at most 256"):
        generator.generate(list(range(300)), GenerationSettings())
