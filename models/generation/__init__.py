"""Text generation: stream a reply from a causal language model.

`Generator` is the interface the chat, the CLI and the local API use. This first engine runs
transformers' `generate` with a streamer and a stopping criterion that reads a threading.Event.
"""
from models.generation.engine import GenerationResult, GenerationSettings, GenerationStats, Generator

__all__ = ["GenerationResult", "GenerationSettings", "GenerationStats", "Generator"]
