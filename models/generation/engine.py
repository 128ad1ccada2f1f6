from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.errors import ModelError
from models.loading import load_causal_lm, load_tokenizer

log = logging.getLogger(__name__)


@dataclass
class GenerationSettings:
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    seed: int | None = None
    stop: list[str] = field(default_factory=list)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    total_s: float = 0.0
    model: str = ""
    stop_reason: str = ""  # "eos", "length", "stopped", "stop_sequence"
    reused_prompt_tokens: int = 0  # of prompt_tokens, how many came from the previous call's cache


@dataclass
class GenerationResult:
    text: str
    stats: GenerationStats


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


class Generator:
    """One loaded chat model. One generation at a time (a second caller waits for the first).

    `quantization` is "auto" (on a CPU: 4-bit for weights that came from a 4-bit GGUF, such as the
    bundled model, and for a LoRA fine-tune of such a model, whose adapters then run apart from its
    4-bit base; 8-bit for any other; full precision on a GPU), "none", "int8" or "int4".
    Llama-family models run on a lean decoder (models.generation.fast_decoder); other
    architectures run through transformers in full precision.
    """

    def __init__(self, model, tokenizer, name: str = "", device: str = "cpu", quantization: str = "auto",
                 four_bit_source: bool = False, adapter=None):
        from models.generation.backends import FastRunner, TransformersRunner
        from models.generation.fast_decoder import CALIBRATION_TEXT, FastDecoder, unsupported_reason
        from models.generation.quantize import resolve_quantization

        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = str(device)
        device_type = self.device.split(":")[0]
        self.quantization = resolve_quantization(quantization, device_type, four_bit_source)
        self.eos_ids = _eos_ids(model, tokenizer)
        self._lock = threading.Lock()
        reason = unsupported_reason(model.config)
        if reason is None:
            calibration = list(tokenizer.encode(CALIBRATION_TEXT))
            self.decoder = FastDecoder(model, self.quantization, self.device, calibration_ids=calibration)
            if adapter is not None:
                self.decoder.add_adapter(adapter)
            if device_type == "cuda":
                self.decoder.capture_graph()
            self.runner = FastRunner(self.decoder)
        else:
            if self.quantization != "none":
                log.info("%s: %s runs through transformers in full precision", name, reason)
                self.quantization = "none"
            if adapter is not None:
                raise ModelError(f"{name}: its adapters need the lean decoder, which does not run {reason}")
            self.decoder = None
            self.runner = TransformersRunner(model, self.device)
        self.adapter = adapter is not None  # a LoRA fine-tune run on its 4-bit base, adapters apart

    @classmethod
    def load(cls, path: Path, name: str = "", device: str = "cpu", quantization: str = "auto") -> "Generator":
        import torch

        from models.generation.lora import find_adapter
        from models.generation.quantize import converted_from_4bit_gguf, resolve_quantization

        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        device_type = str(device).split(":")[0]
        adapter = find_adapter(path)
        if adapter is not None and resolve_quantization(
            quantization, device_type, four_bit_source=converted_from_4bit_gguf(adapter.base_path)
        ) != "int4":
            adapter = None  # the merged weights serve every other precision as they are
        if adapter is not None:
            model, _ = load_causal_lm(adapter.base_path, device=device, dtype=dtype)
            tokenizer = load_tokenizer(path)
        else:
            model, tokenizer = load_causal_lm(path, device=device, dtype=dtype)
        generator = cls(model, tokenizer, name=name or Path(path).name, device=device, quantization=quantization,
                        four_bit_source=adapter is not None or converted_from_4bit_gguf(path), adapter=adapter)
        if generator.decoder is not None:
            # The lean decoder holds its own copy of every weight (sharing what it can); drop
            # transformers' copy. The model object stays for its config.
            model.to("meta")
        return generator

    @property
    def precision(self) -> str:
        """How the weights are held, in words: "4-bit", "4-bit + LoRA adapters", "8-bit", "full precision"."""
        words = {"int4": "4-bit", "int8": "8-bit", "none": "full precision"}[self.quantization]
        return words + (" + LoRA adapters" if self.adapter else "")

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    @property
    def backend(self) -> str:
        """Which engine runs the model: 'fast' (the lean decoder) or 'transformers'."""
        return self.runner.name

    def chat_prompt_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of `messages` through the tokenizer's own chat template, ready for the reply."""
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def reset_cache(self) -> None:
        """Forget the keys and values kept from the previous call (the next prompt starts cold)."""
        with self._lock:
            self.runner.reset()

    def generate(
        self,
        prompt_ids: list[int],
        settings: GenerationSettings,
        on_text: Callable[[str], None] | None = None,
        stop_event: threading.Event | None = None,
    ) -> GenerationResult:
        with self._lock:
            return self._generate(list(prompt_ids), settings, on_text, stop_event or threading.Event())

    def _generate(self, prompt_ids, settings, on_text, stop_event) -> GenerationResult:
        import torch

        from models.generation.sampling import TokenSampler
        from models.generation.streaming import IncrementalDetokenizer, StopStringFilter

        started = time.perf_counter()
        if not prompt_ids:
            raise ModelError("the prompt is empty")
        room = self.context_length - len(prompt_ids)
        if room <= 0:
            raise ModelError(
                f"the prompt has {len(prompt_ids)} tokens but {self.name or 'the model'} reads at most {self.context_length}"
            )
        budget = min(max(0, int(settings.max_new_tokens)), room)
        sampler = TokenSampler(settings, prompt_ids, vocab_size=int(self.model.config.vocab_size))
        detokenizer = IncrementalDetokenizer(self.tokenizer)
        stop_filter = StopStringFilter(settings.stop)
        new_ids: list[int] = []
        first_token_at = None
        reason = "length"

        def emit(piece: str) -> None:
            shown = stop_filter.feed(piece)
            if shown and on_text:
                on_text(shown)

        with torch.inference_mode():
            logits = self.runner.prefill(prompt_ids, stop_event.is_set) if budget else None
            if logits is None:
                reason = "stopped" if stop_event.is_set() else "length"
            while logits is not None:
                if stop_event.is_set():
                    reason = "stopped"
                    break
                token = sampler.choose(logits)
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                new_ids.append(token)
                if token in self.eos_ids:
                    reason = "eos"
                    break
                sampler.add(token)
                emit(detokenizer.add(token))
                if stop_filter.stopped:
                    reason = "stop_sequence"
                    break
                if len(new_ids) >= budget:
                    reason = "length"
                    break
                if stop_event.is_set():
                    reason = "stopped"
                    break
                logits = self.runner.step(token)
        if not stop_filter.stopped:
            emit(detokenizer.flush())
            tail = stop_filter.finish()
            if tail and on_text:
                on_text(tail)
        finished = time.perf_counter()
        decode_time = finished - first_token_at if first_token_at else 0.0
        stats = GenerationStats(
            prompt_tokens=len(prompt_ids), new_tokens=len(new_ids),
            ttft_s=(first_token_at or finished) - started,
            tokens_per_s=(len(new_ids) - 1) / decode_time if len(new_ids) > 1 and decode_time > 0 else 0.0,
            total_s=finished - started, model=self.name, stop_reason=reason,
            reused_prompt_tokens=self.runner.reused_tokens,
        )
        return GenerationResult(text=stop_filter.reply, stats=stats)
