"""The PyTorch path on tiny models: the lean decoder computes what transformers computes, and the
generation loop samples as transformers' `generate` does, on either runner."""
import threading

import pytest
import torch

from models.generation import GenerationSettings, Generator
from models.generation.backends import FastRunner
from models.generation.fast_decoder import FastDecoder, unsupported_reason
from models.loading import load_causal_lm
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


def fast_generator(folder):
    """The lean decoder under the generation loop, as an NVIDIA GPU runs it, here in float32 on the CPU."""
    model, tokenizer = load_causal_lm(folder)
    return Generator(FastRunner(FastDecoder(model, device="cpu")), tokenizer, context_length=256)


def load(runner: str, folder):
    return fast_generator(folder) if runner == "fast" else Generator.load(folder, device="cpu")


def test_decoder_matches_transformers_whole_chunked_and_stepwise(model_dir):
    model, _ = load_causal_lm(model_dir)
    ids = torch.randint(5, 1000, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    expected = reference_logits(model, ids)
    decoder = FastDecoder(model, device="cpu")
    assert decoder.dtype == torch.float32
    with torch.inference_mode():
        torch.testing.assert_close(decoder.forward(torch.tensor(ids), 0), expected[-1], atol=2e-4, rtol=1e-4)
        decoder.forward(torch.tensor(ids[:17]), 0)
        torch.testing.assert_close(decoder.forward(torch.tensor(ids[17:39]), 17), expected[38], atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(decoder.step(ids[39], 39), expected[39], atol=2e-4, rtol=1e-4)
        # The static-shape step (what a CUDA graph captures) computes the same.
        decoder.static = True
        torch.testing.assert_close(decoder.step(ids[39], 39), expected[39], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("runner", ["fast", "transformers"])
def test_seeded_sampling_reproduces_transformers_generate(tmp_path, runner):
    folder = make_tiny_causal_lm(tmp_path / "llama")
    generator = load(runner, folder)
    assert generator.backend == runner
    settings = GenerationSettings(temperature=0.8, top_p=0.9, top_k=20, repetition_penalty=1.2, seed=42,
                                  max_new_tokens=24)
    prompt = list(range(1000, 1012))
    ours = generator.generate(prompt, settings)
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
    assert generator.backend == "transformers" and generator.precision == "float32"
    result = generator.generate(list(range(100, 110)), GenerationSettings(temperature=0, max_new_tokens=6))
    again = generator.generate(list(range(100, 110)), GenerationSettings(temperature=0, max_new_tokens=6))
    assert result.stats.new_tokens == 6 and again.text == result.text
    assert again.stats.reused_prompt_tokens == 9


@pytest.mark.parametrize("runner", ["fast", "transformers"])
def test_prefix_reuse_gives_the_same_reply(tmp_path, runner):
    generator = load(runner, make_tiny_causal_lm(tmp_path / "llama"))
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_on_an_nvidia_gpu_the_decoder_runs_in_bfloat16_and_replays_a_cuda_graph(tmp_path):
    folder = make_tiny_causal_lm(tmp_path / "llama")
    generator = Generator.load(folder, device="cuda")
    decoder = generator.runner.decoder
    assert generator.backend == "fast" and generator.precision == "bfloat16" and decoder.graph is not None
    ids = list(range(100, 120))
    model, _ = load_causal_lm(folder)
    expected = reference_logits(model, ids)[-1]
    with torch.inference_mode():
        decoder.forward(torch.tensor(ids[:-1]), 0)
        replayed = decoder.step(ids[-1], len(ids) - 1)
    assert torch.nn.functional.cosine_similarity(replayed, expected, dim=0) > 0.99
    settings = GenerationSettings(temperature=0, max_new_tokens=8)
    assert generator.generate(ids, settings).text == generator.generate(ids, settings).text
