"""ASGI middleware: the mock's one place of authentication, and per-token rate limits.

In order: no or unknown ``Authorization`` token -> 401; over the token's
rate limit -> 429 with ``Retry-After``; a reader token on a write method,
or a token not granted the path's project -> 403. Refused requests never
reach the application, so they change nothing (and their bodies are never
read); the backend's ``authorization`` argument is therefore never needed
(docs/mock-server.md, Authentication). Every response to a known token
carries ``X-Ratelimit-Global-Remaining`` and ``X-Ratelimit-Reset`` (epoch
ms). The body-size limit and the 500 guard are the generated runtime's.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message

from generated._runtime import InternalErrors
from generated.operations import match_operation

from .config import Config
from .ratelimit import Decision, FixedWindowLimiter
from .responses import send_error

__all__ = ["ADMIN_PREFIX", "AccessControl"]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PREFIX = "/_admin/"
PUBLIC_PATHS = frozenset({"/openapi.json"})  # the contract itself, as LaunchDarkly serves its own


def _token(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            token = value.decode("latin-1").strip()
            if token.lower().startswith("bearer "):
                token = token[7:].strip()
            return token or None
    return None


def _rate_headers(decision: Decision | None) -> list[tuple[bytes, bytes]]:
    if decision is None:
        return []
    return [
        (b"x-ratelimit-global-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.reset_ms).encode()),
    ]


class AccessControl:
    def __init__(self, app: ASGIApp, config: Config, limiter: FixedWindowLimiter) -> None:
        self.app = app
        # the generated runtime's 500 guard, around the layers between here and the app
        self._guarded = InternalErrors(app)
        self.config = config
        self.limiter = limiter

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (
            scope.get("path") in PUBLIC_PATHS and scope.get("method") in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        token = _token(scope)
        grant = self.config.tokens.get(token) if token is not None else None
        if token is None or grant is None:
            message = "no access token" if token is None else "unknown access token"
            await send_error(send, 401, "unauthorized", f"{message} in the Authorization header")
            return
        path: str = scope.get("path", "")
        decision = None if path.startswith(ADMIN_PREFIX) else self.limiter.hit(token)
        headers = _rate_headers(decision)
        if decision is not None and not decision.allowed:
            await send_error(
                send, 429, "rate_limited",
                f"rate limit of {self.limiter.limit} requests per 10 seconds exceeded;"
                f" retry after {decision.retry_after_s} s",
                [(b"retry-after", str(decision.retry_after_s).encode()), *headers],
            )
            return
        method = scope.get("method", "GET").upper()
        if method in WRITE_METHODS and not grant.can_write:
            status, code = ((401, "unauthorized") if self.config.policy.write_denied == "401"
                            else (403, "forbidden"))
            await send_error(send, status, code, "this access token is read-only", headers)
            return
        matched = match_operation(method, path)
        project = matched[1].get("projectKey") if matched is not None else None
        if project is not None and not grant.grants(project):
            await send_error(
                send, 403, "forbidden",
                f"this access token is not granted project {project!r}", headers,
            )
            return
        await self._call_app(scope, receive, send, headers)

    async def _call_app(self, scope: dict[str, Any], receive: Any, send: Any,
                        headers: list[tuple[bytes, bytes]]) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        await self._guarded(scope, receive, send_with_headers)
