"""Fireside's local API: other programs use its models through the OpenAI protocol.

`ServerController` runs the server (a thread for the app's switch, the foreground for
`fireside serve`); `create_app` builds the ASGI app from a `ServerState`. The endpoints are
GET /v1/models, POST /v1/chat/completions, /v1/completions, /v1/embeddings and Fireside's own
POST /v1/classify. No Qt here.
"""
from desktop.server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, ServerError, is_loopback
from desktop.server.request_log import RequestLog, RequestRecord


def __getattr__(name: str):
    # The controller pulls in FastAPI and uvicorn (half a second); commands that only read the
    # server's defaults, such as `fireside chat`, should not pay for them.
    if name == "ServerController":
        from desktop.server.controller import ServerController

        return ServerController
    raise AttributeError(f"module 'desktop.server' has no attribute {name!r}")

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "RequestLog", "RequestRecord", "ServerConfig", "ServerController",
           "ServerError", "is_loopback"]
