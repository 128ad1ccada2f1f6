"""Text generation: stream a reply from a causal language model.

`Generator` is the interface the chat, the CLI and the local API use (engine.py). Llama-family
models run on a lean decoder with int4/int8 weights (fast_decoder.py, quantize.py); other
architectures run through transformers (backends.py). Sampling follows transformers' processors
(sampling.py); streamed text and stop strings are handled in streaming.py.
"""
from models.generation.engine import GenerationResult, GenerationSettings, GenerationStats, Generator

__all__ = ["GenerationResult", "GenerationSettings", "GenerationStats", "Generator"]
