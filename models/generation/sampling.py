"""Choosing the next token from the logits, the way transformers' `generate` does.

The same processors in the same order: repetition penalty over every token so far (prompt
included), then, when sampling, temperature, top-k, top-p, and one draw of `torch.multinomial`.
A temperature of 0 or below means greedy decoding (the penalty still applies). With a seed, the
draws come from a generator seeded like `torch.manual_seed(seed)` would seed the global one, so a
seeded reply is the one transformers would sample, without touching the process's global state.

Top-k is applied before the sort that top-p needs, so only the k survivors are sorted, not the
whole vocabulary; the result is the same as masking the full vector.
"""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_thread():
    """Run small vector work on one thread: splitting a 50k-entry vector costs more than it saves."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TokenSampler:
    def __init__(self, settings, prompt_ids: list[int], vocab_size: int):
        import torch

        self.penalty = float(settings.repetition_penalty or 1.0)
        self.temperature = float(settings.temperature)
        self.greedy = self.temperature <= 0
        self.top_k = int(settings.top_k or 0)
        self.top_p = float(settings.top_p if settings.top_p is not None else 1.0)
        self.vocab_size = vocab_size
        self.generator = torch.Generator()
        if settings.seed is not None:
            self.generator.manual_seed(int(settings.seed))
        else:
            self.generator.seed()
        # Every token seen so far, for the repetition penalty (grown in place).
        self._seen = torch.zeros(len(prompt_ids) + 1024, dtype=torch.long)
        self._seen[: len(prompt_ids)] = torch.tensor(prompt_ids, dtype=torch.long)
        self._count = len(prompt_ids)

    def add(self, token: int) -> None:
        import torch

        if self._count == self._seen.shape[0]:
            self._seen = torch.cat([self._seen, torch.zeros_like(self._seen)])
        self._seen[self._count] = token
        self._count += 1

    def process(self, logits):
        """The processed scores (float32, [vocab]) before the draw: penalty, temperature, top-k, top-p."""
        import torch

        scores = logits.float()
        if self.penalty != 1.0 and self._count:
            seen = self._seen[: self._count].clamp(max=scores.shape[0] - 1)
            picked = scores.gather(0, seen)
            picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
            scores = scores.scatter(0, seen, picked)
        if self.greedy:
            return scores
        if self.temperature != 1.0:
            scores = scores / self.temperature
        candidates = None
        if self.top_k > 0:
            k = min(self.top_k, scores.shape[0])
            threshold = torch.topk(scores, k).values[-1]
            candidates = (scores >= threshold).nonzero().squeeze(1)  # ties at the k-th are kept
        if self.top_p < 1.0:
            pool = scores if candidates is None else scores[candidates]
            ordered, order = torch.sort(pool, descending=False)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            drop = cumulative <= (1 - self.top_p)
            drop[-1:] = False
            kept = order[~drop]
            candidates = kept if candidates is None else candidates[kept]
        if candidates is None:
            return scores
        filtered = torch.full_like(scores, float("-inf"))
        filtered[candidates] = scores[candidates]
        return filtered

    def choose(self, logits) -> int:
        import torch

        with one_thread():
            scores = self.process(logits)
            if self.greedy:
                return int(torch.argmax(scores))
            probs = scores.softmax(dim=-1)
            return int(torch.multinomial(probs[None], num_samples=1, generator=self.generator)[0, 0])
