"""PyTorch runners for the generation loop: the lean decoder on an NVIDIA GPU, or transformers.

Both keep the keys and values of the tokens they have seen. A new prompt that starts with those
tokens (the next turn of a conversation resends the whole conversation) only computes the rest,
so the time to the first token does not grow with the length of the history. Prompts are
processed in chunks, with a check between chunks, so a stop request is honoured quickly even in
the middle of a long prompt; chunks are sized to take about `CHUNK_SECONDS` each.
"""
from __future__ import annotations

import time
from typing import Callable

CHUNK_SECONDS = 0.03
FIRST_CHUNK = 32
MIN_CHUNK, MAX_CHUNK = 4, 512


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class CachedRunner:
    """Prefix reuse and chunked prompt processing over a `_forward(ids, start)` / `_truncate(n)` pair."""

    name = "runner"

    def __init__(self):
        self.cached: list[int] = []  # tokens whose keys and values are in the cache, in order
        self.chunk = FIRST_CHUNK
        self.reused_tokens = 0  # of the last prompt, how many came from the cache

    def _forward(self, ids: list[int], start: int):
        raise NotImplementedError

    def _truncate(self, length: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        self._truncate(0)
        self.cached = []

    def prefill(self, prompt_ids: list[int], should_stop: Callable[[], bool]):
        """Logits after the prompt, or None when `should_stop()` turned true on the way."""
        keep = min(common_prefix(self.cached, prompt_ids), len(prompt_ids) - 1)
        self._truncate(keep)
        self.cached = list(prompt_ids[:keep])
        self.reused_tokens = keep
        logits = None
        position = keep
        while position < len(prompt_ids):
            if should_stop():
                return None
            size = self.chunk
            piece = prompt_ids[position:position + size]
            began = time.perf_counter()
            logits = self._forward(piece, position)
            elapsed = time.perf_counter() - began
            position += len(piece)
            self.cached.extend(piece)
            if len(piece) == size and elapsed > 0:
                self.chunk = int(min(MAX_CHUNK, max(MIN_CHUNK, size * CHUNK_SECONDS / elapsed)))
        return logits

    def tokens(self, prompt_ids: list[int], settings, should_stop: Callable[[], bool]):
        """The reply's token ids, one at a time, sampled as transformers' `generate` would."""
        import torch

        from models.generation.sampling import TokenSampler

        with torch.inference_mode():
            logits = self.prefill(prompt_ids, should_stop)
        if logits is None:
            return
        sampler = TokenSampler(settings, prompt_ids, vocab_size=int(logits.shape[-1]))
        while True:
            token = sampler.choose(logits)
            yield token
            sampler.add(token)
            if should_stop():
                return
            with torch.inference_mode():
                logits = self.step(token)

    def step(self, token: int):
        """Logits after appending `token`."""
        logits = self._forward([token], len(self.cached))
        self.cached.append(token)
        return logits


class FastRunner(CachedRunner):
    name = "fast"

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder
        self.context_length = decoder.context_length

    def _forward(self, ids, start):
        import torch

        return self.decoder.forward(torch.tensor(ids, dtype=torch.long), start).cpu()

    def _truncate(self, length: int) -> None:
        pass  # positions past `length` are simply overwritten

    def step(self, token: int):
        logits = self.decoder.step(token, len(self.cached)).cpu()  # sampling happens on the CPU
        self.cached.append(token)
        return logits


class TransformersRunner(CachedRunner):
    """Any causal LM transformers can run, with its own dynamic cache."""

    name = "transformers"

    def __init__(self, model, device):
        super().__init__()
        self.model = model
        self.device = device
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        self.past = None

    def _forward(self, ids, start):
        import torch

        if self.past is None:
            from transformers import DynamicCache

            self.past = DynamicCache(config=self.model.config)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, past_key_values=self.past, use_cache=True)
        self.past = out.past_key_values
        return out.logits[0, -1].float().cpu()

    def _truncate(self, length: int) -> None:
        if self.past is None:
            return
        import inspect

        surplus = self.past.get_seq_length() - length
        if length == 0:
            self.past = None
        elif surplus > 0:
            # Newer transformers take the number of tokens to drop (negative), older ones the length to keep.
            newer = "tokens_to_remove" in inspect.signature(self.past.crop).parameters
            self.past.crop(-surplus if newer else length)
