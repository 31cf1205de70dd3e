"""The clock admin route, ``/_admin/clock`` (only when the config enables it).

``GET`` shows the clock, ``PUT {"now": <unix ms>}`` fixes it, ``DELETE``
returns to real time. Behind :class:`~mock_server.access.AccessControl`, so a
token is needed (a writer token for PUT and DELETE); not rate limited.
"""

from __future__ import annotations

import json
from typing import Any

from .clock import SettableClock
from .responses import send_error, send_json

__all__ = ["CLOCK_PATH", "ClockAdmin"]

CLOCK_PATH = "/_admin/clock"
INT64_MAX = 2**63 - 1


class ClockAdmin:
    def __init__(self, app: Any, clock: SettableClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != CLOCK_PATH:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper()
        if method == "PUT":
            body = await _read_body(receive)
            try:
                now = json.loads(body).get("now")
            except (ValueError, AttributeError):
                now = None
            if not isinstance(now, int) or isinstance(now, bool) or not 0 <= now <= INT64_MAX:
                await send_error(send, 400, "invalid_request",
                                 'the body must be {"now": <Unix milliseconds>}')
                return
            self.clock.set(now)
        elif method == "DELETE":
            self.clock.reset()
        elif method != "GET":
            await send_error(send, 405, "method_not_allowed", "use GET, PUT or DELETE")
            return
        await send_json(send, 200, {"now": self.clock.now_ms(), "fixed": self.clock.is_fixed})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
