"""Fireside's local API: other programs use its models through the OpenAI protocol.

`ServerController` runs the server (a thread for the app's switch, the foreground for
`fireside serve`); `create_app` builds the ASGI app from a `ServerState`. The endpoints are
GET /v1/models, POST /v1/chat/completions, /v1/completions, /v1/embeddings and Fireside's own
POST /v1/classify. No Qt here.
"""
from desktop.server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, ServerError, is_loopback
from desktop.server.controller import ServerController
from desktop.server.request_log import RequestLog, RequestRecord

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "RequestLog", "RequestRecord", "ServerConfig", "ServerController",
           "ServerError", "is_loopback"]
