"""POST /v1/embeddings: mean-pooled, unit-length sentence vectors from any registered encoder."""
from __future__ import annotations

import asyncio
import base64
from array import array

from fastapi import APIRouter, Request

from desktop.server import responses as r
from desktop.server.errors import APIError
from desktop.server.schemas import EmbeddingRequest
from models.errors import ModelError

router = APIRouter()


def _as_base64(vector: list[float]) -> str:
    packed = array("f", vector)  # float32, the layout OpenAI's base64 format uses (little-endian)
    if packed.itemsize != 4:
        raise APIError(500, "this platform has no 4-byte float", code="internal_error")
    import sys

    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request):
    state = request.app.state.fireside
    entry = state.pool.resolve(body.model, ("encoder", "classifier"), "an embedding")
    request.state.model = entry.name
    texts = body.texts

    def work():
        encoder = state.pool.encoder(entry)
        if body.dimensions is not None and body.dimensions != encoder.dimension:
            raise APIError(400, f"'{entry.name}' makes vectors of {encoder.dimension} dimensions; "
                                f"dimensions={body.dimensions} is not available.", param="dimensions",
                           code="invalid_value")
        return encoder.encode(texts)

    try:
        result = await asyncio.wrap_future(state.pool.submit(f"encoder:{entry.name}", work))
    except ModelError as exc:
        raise APIError(500, str(exc), code="model_unavailable", param="model") from exc
    request.state.prompt_tokens = result.total_tokens
    request.state.outcome = f"{len(texts)} vectors"
    encode = _as_base64 if body.encoding_format == "base64" else (lambda v: v)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(result.vectors)],
        "model": entry.name,
        "usage": r.embedding_usage(result.total_tokens),
    }
