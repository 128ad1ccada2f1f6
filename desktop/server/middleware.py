"""Plain ASGI layers around the app: the request log, the API key, the body size limit.

They are written against ASGI directly (not BaseHTTPMiddleware) so streamed replies and
client disconnects pass through untouched.
"""
from __future__ import annotations

import hmac
import json
import time

from fastapi.responses import JSONResponse

from desktop.server.errors import APIError
from desktop.server.request_log import RequestLog, RequestRecord

DISCARD_FACTOR = 16


async def _reply(error: APIError, scope, receive, send) -> None:
    scope.setdefault("state", {})["outcome"] = error.message
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    await JSONResponse(error.body(), status_code=error.status, headers=headers)(scope, receive, send)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class RequestLogging:
    def __init__(self, app, log: RequestLog):
        self.app = app
        self.log = log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        number = self.log.next_number()
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status = [0]

        async def send_and_watch(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            client = scope.get("client") or ("", 0)
            self.log.add(RequestRecord(
                number=number, method=scope["method"], path=scope["path"], status=status[0] or 499,
                duration_s=time.perf_counter() - started, model=state.get("model", ""),
                prompt_tokens=state.get("prompt_tokens", 0), completion_tokens=state.get("completion_tokens", 0),
                outcome=state.get("outcome", ""), client=str(client[0]),
            ))


def _hostname(value: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:80' -> '::1', 'https://a.example' -> 'a.example'."""
    value = value.split("://", 1)[-1].split("/", 1)[0]
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class OnlyThisComputer:
    """Refuse what a web page in the user's browser could send to a server on this computer.

    A request naming another host (DNS rebinding) is refused while the server listens on loopback,
    and so is any request a browser marks with a foreign Origin: no web page may drive the models.
    """

    def __init__(self, app, loopback_only: bool):
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from desktop.server.config import is_loopback

        origin = _header(scope, b"origin")
        if origin is not None and not is_loopback(_hostname(origin)):
            error = APIError(403, f"Requests from web pages ({origin}) are refused.", code="foreign_origin")
            return await _reply(error, scope, receive, send)
        host = _header(scope, b"host")
        if self.loopback_only and host is not None and not is_loopback(_hostname(host)):
            error = APIError(403, f"This server answers only to this computer's own address, not {host}.",
                             code="foreign_host")
            return await _reply(error, scope, receive, send)
        return await self.app(scope, receive, send)


class RequireKey:
    """Every request must carry `Authorization: Bearer <key>` when a key is set."""

    def __init__(self, app, api_key: str | None):
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.expected is None:
            return await self.app(scope, receive, send)
        given = (_header(scope, b"authorization") or "").encode("latin-1")
        if not hmac.compare_digest(given, self.expected):
            message = ("Incorrect API key provided." if given else
                       "This server needs an API key: send 'Authorization: Bearer <key>'.")
            error = APIError(401, message, code="invalid_api_key")
            return await _reply(error, scope, receive, send)
        return await self.app(scope, receive, send)


class ReadBody:
    """Read the request body once, here: over `limit` bytes is a 413, whether announced (Content-Length)
    or streamed; a body that is not JSON is a 400. A JSON body is handed on as JSON whatever
    Content-Type the client sent (curl's default included), as OpenAI's API does.
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def _too_large(self) -> APIError:
        return APIError(413, f"The request body is larger than this server accepts ({self.limit} bytes).",
                        code="request_too_large")

    async def _discard_body(self, receive) -> None:
        """Read what the client still sends (keeping none of it), so it can read the 413.

        A client that sends far more than the limit is cut off after DISCARD_FACTOR times it.
        """
        discarded = 0
        while discarded <= self.limit * DISCARD_FACTOR:
            message = await receive()
            if message["type"] != "http.request":
                return
            discarded += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                return await _reply(APIError(400, "Content-Length is not a number.", code="invalid_request"),
                                    scope, receive, send)
            if too_large:
                await self._discard_body(receive)
                return await _reply(self._too_large(), scope, receive, send)
        # Read the whole body here (it is small by now) and hand it on in one piece.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                if message.get("more_body", False):
                    await self._discard_body(receive)
                return await _reply(self._too_large(), scope, receive, send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                detail = getattr(exc, "msg", None) or str(exc)
                error = APIError(400, f"The request body is not valid JSON ({detail}).", code="invalid_json")
                return await _reply(error, scope, receive, send)
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
            scope = dict(scope, headers=headers + [(b"content-type", b"application/json")])
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
