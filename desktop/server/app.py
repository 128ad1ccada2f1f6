"""The ASGI application: FastAPI routes wrapped in the request log, the key check and the body limit."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request

from desktop import __version__
from desktop.server import classify, embeddings, generation
from desktop.server import responses as r
from desktop.server.config import ServerConfig, is_loopback
from desktop.server.errors import install_error_handlers, model_not_found
from desktop.server.middleware import OnlyThisComputer, ReadBody, RequestLogging, RequireKey
from desktop.server.recording import exchange_recorder
from desktop.server.request_log import RequestLog
from desktop.server.runtime import ModelPool
from models.errors import ModelError
from models.registry import Registry


@dataclass
class ServerState:
    config: ServerConfig
    registry: Registry
    pool: ModelPool
    log: RequestLog
    db: object = None  # desktop.store.Database, for classifiers and recording

    def recorder_for(self, endpoint: str, body):
        return exchange_recorder(self.db, endpoint, body) if self.config.record else None


def create_app(state: ServerState):
    app = FastAPI(title="Fireside local API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/v1/openapi.json")
    app.state.fireside = state
    install_error_handlers(app)

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [r.model_object(entry) for entry in state.registry.list()]}

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str, request: Request):
        try:
            return r.model_object(state.registry.get(name))
        except ModelError:
            raise model_not_found(name) from None

    app.include_router(generation.router)
    app.include_router(embeddings.router)
    app.include_router(classify.router)
    guarded = RequireKey(ReadBody(app, state.config.max_body_bytes), state.config.api_key)
    guarded = OnlyThisComputer(guarded, loopback_only=is_loopback(state.config.host))
    return RequestLogging(guarded, state.log)
