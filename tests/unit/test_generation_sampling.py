"""Next-token choice matches transformers' logits processors and sampling, draw for draw."""
import pytest
import torch
from transformers import (
    LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
)

from models.generation import GenerationSettings
from models.generation.sampling import TokenSampler

VOCAB = 500


def transformers_scores(logits, seen, settings):
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        if settings.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k:
            processors.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(settings.top_p))
    return processors(torch.tensor([seen]), logits[None].clone())[0]


@pytest.mark.parametrize("settings", [
    GenerationSettings(temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1),
    GenerationSettings(temperature=1.3, top_p=0.5, top_k=0, repetition_penalty=1.0),
    GenerationSettings(temperature=0.5, top_p=1.0, top_k=5, repetition_penalty=1.5),
    GenerationSettings(temperature=1.0, top_p=0.95, top_k=400, repetition_penalty=0.9),
    GenerationSettings(temperature=0, repetition_penalty=1.3),
])
def test_processed_scores_equal_transformers(settings):
    torch.manual_seed(0)
    seen = torch.randint(0, VOCAB, (30,)).tolist()
    sampler = TokenSampler(settings, seen[:20], VOCAB)
    for token in seen[20:]:
        sampler.add(token)
    for _ in range(5):
        logits = torch.randn(VOCAB) * 4
        ours = sampler.process(logits)
        theirs = transformers_scores(logits, seen, settings)
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
        finite = ~torch.isinf(theirs)
        torch.testing.assert_close(ours[finite], theirs[finite])


def test_seeded_draws_are_the_ones_transformers_makes():
    settings = GenerationSettings(temperature=0.9, top_p=0.95, top_k=50, repetition_penalty=1.0, seed=1234)
    torch.manual_seed(5)
    all_logits = [torch.randn(VOCAB) * 3 for _ in range(20)]
    sampler = TokenSampler(settings, [1, 2, 3], VOCAB)
    ours = [sampler.choose(logits) for logits in all_logits]
    torch.manual_seed(1234)
    theirs = []
    for logits in all_logits:
        probs = transformers_scores(logits, [1, 2, 3], settings).softmax(-1)
        theirs.append(int(torch.multinomial(probs[None], num_samples=1)[0, 0]))
    assert ours == theirs
    assert len(set(ours)) > 1


def test_greedy_when_temperature_is_zero_or_below():
    logits = torch.zeros(VOCAB)
    logits[7], logits[9] = 5.0, 4.0
    for temperature in (0, -1):
        sampler = TokenSampler(GenerationSettings(temperature=temperature, repetition_penalty=1.0), [0], VOCAB)
        assert {sampler.choose(logits) for _ in range(10)} == {7}
    # The repetition penalty still applies: token 7 was seen, 5 / 2 < 4.
    sampler = TokenSampler(GenerationSettings(temperature=0, repetition_penalty=2.0), [7], VOCAB)
    assert sampler.choose(logits) == 9


def test_unseeded_sampling_varies_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    logits = torch.zeros(VOCAB)
    draws = {TokenSampler(GenerationSettings(temperature=1.0, top_k=0, top_p=1.0), [0], VOCAB).choose(logits)
             for _ in range(10)}
    assert len(draws) > 1
    assert torch.equal(before, torch.get_rng_state())
