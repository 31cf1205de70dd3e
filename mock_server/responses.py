"""Plain ASGI JSON responses for the middleware (errors are ``{code, message}``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["send_error", "send_json"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_json(
    send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": payload})


async def send_error(
    send: Send, status: int, code: str, message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send_json(send, status, {"code": code, "message": message}, headers)
