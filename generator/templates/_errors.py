"""Error answers of the generated server: ``ApiError`` and the ``{code, message}`` bodies.

Every refusal the generated code or a backend makes is an ``ApiError``; Starlette's own
(unknown route, method not allowed) and any unexpected exception get the same body shape,
so a client never has to parse two kinds of error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ApiError", "InternalErrors", "error_body", "error_response",
           "install_exception_handlers", "invalid_request"]

#: Longest message of a 400 built from request data: a huge value must not make a huge answer.
_MAX_MESSAGE = 300
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
}
_log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer: ``status`` with the body ``{"code": code, "message": message}``."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.status!r}, {self.code!r}, {self.message!r})"


def invalid_request(message: str) -> ApiError:
    """A 400 ``invalid_request``; a long message keeps both ends (the reason may be last)."""
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 103] + "..." + message[-100:]
    return ApiError(400, "invalid_request", message)


def error_body(code: str, message: str) -> bytes:
    """The API's error envelope ``{"code": code, "message": message}`` as compact UTF-8 JSON:
    the body of every error answer, the runtime's and the servers' around it."""
    return json.dumps({"code": code, "message": message}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error answer of the app: ``status`` with :func:`error_body`."""
    return Response(error_body(code, message), status_code=status,
                    headers=dict(headers or {}), media_type="application/json")


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    fallback = "invalid_request" if exc.status_code < 500 else "internal_error"
    code = _HTTP_CODES.get(exc.status_code, fallback)
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


class InternalErrors:
    """The 500 guard: any other exception becomes a 500 ``internal_error`` body, never a
    traceback (which goes to the log); an answer already started is left to the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            response = error_response(500, "internal_error",
                                      f"internal error ({type(exc).__name__})")
            await response(scope, receive, send)


def install_exception_handlers(app: Starlette) -> None:
    """``{code, message}`` bodies for every error: ApiError (bad parameters and bodies among
    them), unknown routes and methods, and unexpected exceptions."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_middleware(InternalErrors)
