from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.errors import ModelError

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


class Generator:
    """One loaded chat model. One generation at a time (a second caller waits for the first).

    Below it runs either llama.cpp (a GGUF file, mapped as it is: models.generation.llama_engine)
    or PyTorch (a transformers folder, or a GGUF where llama.cpp is missing or an NVIDIA GPU is
    used through torch: models.generation.backends). Both give a tokenizer with the model's chat
    template and a stream of token ids; this class turns the stream into text, stop strings,
    token counts and timings.
    """

    def __init__(self, runner, tokenizer, name: str = "", device: str = "cpu", context_length: int = 2048,
                 eos_ids: set[int] | None = None, precision: str = "", adapter: bool = False, engine: str = ""):
        self.runner = runner
        self.tokenizer = tokenizer
        self.name = name
        self.device = str(device)
        self.context_length = int(context_length)
        self.eos_ids = set(eos_ids or ())
        self.adapter = adapter
        self._precision = precision
        self.engine = engine or runner.name  # in words, for the status line: "llama.cpp", "PyTorch (...)"
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, name: str = "", device: str = "auto", speculative: bool = False) -> "Generator":
        """Open the chat model at `path`: a .gguf file, a LoRA fine-tune folder over a GGUF base, or
        a transformers folder. `device` is "auto", "cpu", "cuda" or "mps"."""
        from models.generation import loaders

        return loaders.load_generator(cls, Path(path), name or Path(path).name, device, speculative)

    @property
    def precision(self) -> str:
        """How the weights are held, in words: "Q4_K_M", "Q8_0 + LoRA adapter", "bfloat16", ..."""
        return self._precision

    @property
    def backend(self) -> str:
        """Which engine runs the model: 'llama.cpp', 'fast' (PyTorch on a GPU) or 'transformers'."""
        return self.runner.name

    def chat_prompt_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of `messages` through the model's own chat template, ready for the reply."""
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def reset_cache(self) -> None:
        """Forget the keys and values kept from the previous call (the next prompt starts cold)."""
        with self._lock:
            self.runner.reset()

    def close(self) -> None:
        """Free the model now rather than when the last reference goes."""
        with self._lock:
            close = getattr(self.runner, "close", None)
            if close:
                close()

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
        detokenizer = IncrementalDetokenizer(self.tokenizer)
        stop_filter = StopStringFilter(settings.stop)
        strip_space = bool(getattr(self.tokenizer, "sentencepiece", False))
        new_ids: list[int] = []
        first_token_at = None
        reason = "length"

        def emit(piece: str) -> None:
            nonlocal strip_space
            if strip_space and piece:
                piece, strip_space = (piece[1:] if piece.startswith(" ") else piece), False
            shown = stop_filter.feed(piece)
            if shown and on_text:
                on_text(shown)

        if budget:
            stream = self.runner.tokens(prompt_ids, settings, stop_event.is_set)
            try:
                reason = "stopped"  # unless the loop ends for another reason
                for token in stream:
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                    new_ids.append(token)
                    if token in self.eos_ids:
                        reason = "eos"
                        break
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
            finally:
                stream.close()
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
