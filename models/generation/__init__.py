"""Text generation: stream a reply from a causal language model.

`Generator` is the interface the chat, the CLI and the local API use (engine.py); loaders.py
chooses what runs the model. GGUF models run on llama.cpp (llama_engine.py); transformers folders,
and GGUF models where llama.cpp cannot run them, run on PyTorch (backends.py): Llama-family models
on an NVIDIA GPU on a lean decoder with a CUDA graph (fast_decoder.py), the rest through
transformers. On PyTorch, sampling follows transformers' processors (sampling.py). Streamed text and
stop strings are handled in streaming.py.
"""
from models.generation.engine import GenerationResult, GenerationSettings, GenerationStats, Generator

__all__ = ["GenerationResult", "GenerationSettings", "GenerationStats", "Generator"]
