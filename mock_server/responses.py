"""Plain ASGI JSON answers for the mock's middleware; errors in the generated runtime's
envelope (``generated._runtime.error_body``), so that every error body has one definition."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from generated._runtime import error_body

__all__ = ["send_error", "send_json"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _send(send: Send, status: int, payload: bytes,
                headers: Iterable[tuple[bytes, bytes]]) -> None:
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


async def send_json(
    send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await _send(send, status, json.dumps(body).encode(), headers)


async def send_error(
    send: Send, status: int, code: str, message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await _send(send, status, error_body(code, message), headers)
