from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.loading import load_causal_lm


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


@dataclass
class GenerationResult:
    text: str
    stats: GenerationStats


class Generator:
    """One loaded chat model. Not thread-safe: one generation at a time."""

    def __init__(self, model, tokenizer, name: str = "", device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device

    @classmethod
    def load(cls, path: Path, name: str = "", device: str = "cpu") -> "Generator":
        model, tokenizer = load_causal_lm(path, device=device)
        return cls(model, tokenizer, name=name or Path(path).name, device=device)

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def chat_prompt_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of `messages` through the tokenizer's own chat template, ready for the reply."""
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def generate(
        self,
        prompt_ids: list[int],
        settings: GenerationSettings,
        on_text: Callable[[str], None] | None = None,
        stop_event: threading.Event | None = None,
    ) -> GenerationResult:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        stop_event = stop_event or threading.Event()
        started = time.perf_counter()
        first_token_at: list[float] = []
        pieces: list[str] = []

        class Streamer(TextStreamer):
            def put(self, value):
                if not self.next_tokens_are_prompt and not first_token_at:
                    first_token_at.append(time.perf_counter())
                super().put(value)

            def on_finalized_text(self, text: str, stream_end: bool = False):
                if text:
                    pieces.append(text)
                    if on_text:
                        on_text(text)

        class StopOnEvent(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop_event.is_set()

        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        greedy = settings.temperature <= 0
        kwargs = dict(
            max_new_tokens=settings.max_new_tokens,
            do_sample=not greedy,
            repetition_penalty=settings.repetition_penalty,
            streamer=Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True),
            stopping_criteria=StoppingCriteriaList([StopOnEvent()]),
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        if not greedy:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
        if settings.stop:
            kwargs.update(stop_strings=settings.stop, tokenizer=self.tokenizer)
        input_ids = torch.tensor([prompt_ids], device=self.device)
        with torch.inference_mode():
            output = self.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
        finished = time.perf_counter()
        new_ids = output[0, len(prompt_ids):].tolist()
        new_tokens = len(new_ids)
        ttft = (first_token_at[0] if first_token_at else finished) - started
        decode_time = finished - (first_token_at[0] if first_token_at else started)
        if stop_event.is_set():
            reason = "stopped"
        elif new_ids and new_ids[-1] == self.tokenizer.eos_token_id:
            reason = "eos"
        elif new_tokens >= settings.max_new_tokens:
            reason = "length"
        else:
            reason = "stop_sequence"
        stats = GenerationStats(
            prompt_tokens=len(prompt_ids), new_tokens=new_tokens, ttft_s=ttft,
            tokens_per_s=(new_tokens - 1) / decode_time if new_tokens > 1 and decode_time > 0 else 0.0,
            total_s=finished - started, model=self.name, stop_reason=reason,
        )
        return GenerationResult(text="".join(pieces), stats=stats)
