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

    def __init__(self, registry, device: str = "auto"):
        self.registry = registry
        self.device = device
        self.generator = None

    @property
    def name(self) -> str | None:
        return self.generator.name if self.generator is not None else None

    def load(self, name: str, progress=None):
        """The generator for model `name`, loading it (and freeing any other) when needed."""
        if self.generator is not None and self.generator.name == name:
            return self.generator
        entry = self.registry.get(name)
        if entry.kind != "chat":
            raise ModelError(f"{name!r} is a {entry.kind} model, not a chat model")
        self.unload()
        path = self.registry.local_path(entry, progress)
        from models.devices import pick_device
        from models.generation import Generator

        self.generator = Generator.load(path, name=entry.name, device=pick_device(self.device))
        return self.generator

    def unload(self) -> None:
        if self.generator is None:
            return
        device = self.generator.device
        self.generator = None
        release_memory(device)
