"""GGUFWriter's typed helpers (add_head_count, add_token_list, ...) used to build key-value lists."""
from __future__ import annotations

from typing import Callable

from models.convert.gguf_file import KeyValue


def collect(architecture: str, fill: Callable) -> list[KeyValue]:
    """Run `fill(writer)` on a writer with no file and return what it added, in order, without
    general.architecture (the real writer adds that itself)."""
    import gguf

    writer = gguf.GGUFWriter(None, architecture)
    fill(writer)
    return [(key, item.value, item.type, item.sub_type)
            for key, item in writer.kv_data[0].items() if key != gguf.Keys.General.ARCHITECTURE]
