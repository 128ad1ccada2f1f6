"""Errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}` with a 4xx/5xx status.

Every way a request can go wrong ends here, so an OpenAI client sees the exception it expects
(openai.BadRequestError, NotFoundError, AuthenticationError ...) and the server never crashes.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    501: "not_implemented_error",
    503: "server_error",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 error_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type or ERROR_TYPES.get(status, "server_error")

    def body(self) -> dict:
        return error_body(self.message, self.error_type, self.param, self.code)


def error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: APIError, request: Request | None = None) -> JSONResponse:
    if request is not None:
        request.state.outcome = error.message  # for the request log
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, code=code, param=param)


def model_not_found(name: str) -> APIError:
    return APIError(404, f"The model '{name}' does not exist; GET /v1/models lists the models you can use.",
                    code="model_not_found", param="model")


def _describe_validation(errors: list[dict]) -> tuple[str, str | None, str]:
    """One readable line for pydantic's error list, the offending parameter, and a code."""
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return f"The request body is not valid JSON ({detail}).".replace(" ()", ""), None, "invalid_json"
    if first.get("type") == "missing" and not location:
        return "The request needs a JSON body.", None, "invalid_json"
    if first.get("type") in ("model_attributes_type", "dict_type") and not location:
        return "The request body must be a JSON object.", None, "invalid_json"
    # Union members add their type name to the location; drop those to name the parameter.
    names = [part for part in location if not part.startswith(("str", "list[", "int", "float", "function-"))]
    param = ".".join(names) or None
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return (f"{param}: {message}{more}" if param else f"{message}{more}"), param, "invalid_value"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        message, param, code = _describe_validation(list(exc.errors()))
        return error_response(APIError(400, message, code=code, param=param), request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = f"Unknown path {request.url.path}; the API lives under /v1 (see GET /v1/models)."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        return error_response(APIError(exc.status_code, message, code=f"http_{exc.status_code}"), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("local API request %s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(APIError(500, f"The server failed: {exc}", code="internal_error"), request)
