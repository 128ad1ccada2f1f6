"""The one chat model kept in memory; switching loads the new one only after freeing the old."""
from __future__ import annotations

import ctypes
import gc
import sys

from models.errors import ModelError


def release_memory(device: str = "cpu") -> None:
    """Give freed tensors back to the system, not just to the allocator's free lists."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


class ModelSlot:
    """Holds at most one loaded `Generator`. Not thread-safe: use it from one thread."""

    def __init__(self, registry, device: str = "auto", speculative: bool = False):
        self.registry = registry
        self.device = device
        self.speculative = speculative  # prompt lookup, for the next load (models.generation.Generator.load)
        self.generator = None
        self._loaded_as = None  # (name, speculative) of the generator held

    @property
    def name(self) -> str | None:
        return self.generator.name if self.generator is not None else None

    def holds(self, name: str) -> bool:
        """Whether model `name` is loaded, with the settings asked for now."""
        return self.generator is not None and self._loaded_as == (name, self.speculative)

    def load(self, name: str, progress=None):
        """The generator for model `name`, loading it (and freeing any other) when needed."""
        if self.holds(name):
            return self.generator
        entry = self.registry.get(name)
        if entry.kind != "chat":
            raise ModelError(f"{name!r} is a {entry.kind} model, not a chat model")
        self.unload()
        path = self.registry.local_path(entry, progress)
        from models.generation import Generator

        self.generator = Generator.load(path, name=entry.name, device=self.device, speculative=self.speculative)
        self._loaded_as = (name, self.speculative)
        return self.generator

    def unload(self) -> None:
        if self.generator is None:
            return
        device = self.generator.device
        self.generator.close()
        self.generator = self._loaded_as = None
        release_memory(device)
